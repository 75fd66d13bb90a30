"""MaskedDualActionSampler: the two-stage (xfer, then location) action.

The action of the model-free agent is a pair: an xfer id x in [0, N] (N is
NO-OP) and a location l of that xfer. The sampler draws x from the masked
xfer head, then l from the location head conditioned on x, and scores the
pair with the joint log-probability log p(x) + log p(l | x) (dissertation
3.3: two actions, so two sets of results per step). At update time the
log-probability of a stored action is recomputed from the xfer actually
taken, never from a fresh sample.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from rlgraph_xflow.components.heads.location_head import LocationHead
from rlgraph_xflow.components.heads.xfer_policy_head import XferPolicyHead
from rlgraph_xflow.components.layers.initializers import component_seed
from rlgraph_xflow.core import COMPONENTS, Component, FloatBox, IntBox, SpecError, api, from_spec, graph_fn, register
from rlgraph_xflow.core.validation import check_positive_int


@register("masked_dual_action_sampler")
class MaskedDualActionSampler(Component):
    """Samples, picks greedily, or evaluates (xfer, location) actions.

    Args:
        num_xfers: N (xfer ids are in [0, N], N being NO-OP).
        xfer_head: spec of the xfer head (default {type: xfer_policy_head});
            num_xfers is filled in.
        location_head: spec of the location head (default {type:
            location_head}); num_xfers is filled in.
        seed: seed of the sampler's random stream (its state is a variable,
            so checkpoints restore it).

    Common API arguments: z [B, D] (graph latents), node_embeddings
    [total_nodes, D], graphs (the GraphsTuple), xfer_tuples [B, N, L, K],
    location_masks [B, N, L], xfer_mask [B, N + 1].

    API:
        sample_actions(z, node_embeddings, graphs, xfer_tuples, location_masks, xfer_mask)
        greedy_actions(same arguments)
            -> {xfers [B], locations [B], log_probs [B], xfer_log_probs [B],
                location_log_probs [B], xfer_entropy [B], location_entropy [B]}
        evaluate_actions(same arguments, xfers, locations)
            -> {log_probs, xfer_log_probs, location_log_probs, xfer_entropy,
                location_entropy}, each [B], for the given actions.
    """

    def __init__(self, num_xfers: int, xfer_head: Any = None, location_head: Any = None, seed: int = 0,
                 scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "masked_dual_action_sampler"
        self.num_xfers = check_positive_int(num_xfers, f"{where}.num_xfers")
        self.seed = seed
        self.xfer_head = self._head_from_spec(xfer_head, "xfer_head", XferPolicyHead, where)
        self.location_head = self._head_from_spec(location_head, "location_head", LocationHead, where)
        self.add_components(self.xfer_head, self.location_head)

    def _head_from_spec(self, spec, name: str, kind: type, where: str):
        """Builds a head of class `kind` from `spec`, filling in num_xfers."""
        spec = spec if spec is not None else {"type": kind.registered_name}
        if isinstance(spec, str):
            spec = {"type": spec}
        if isinstance(spec, Mapping) and "type" in spec:
            cls = COMPONENTS.lookup(spec["type"], f"{where}.{name}.type")
            if not issubclass(cls, kind):
                raise SpecError(f"{where}.{name}.type", f"expected a {kind.registered_name} (or a subclass), got {spec['type']!r}")
        elif isinstance(spec, Component) and not isinstance(spec, kind):
            raise SpecError(f"{where}.{name}", f"expected a {kind.__name__}, got {type(spec).__name__}")
        head = from_spec(spec, f"{where}.{name}", scope=name, num_xfers=self.num_xfers)
        if head.num_xfers != self.num_xfers:
            raise SpecError(f"{where}.{name}.num_xfers",
                            f"the {name} has num_xfers={head.num_xfers} but the sampler has num_xfers={self.num_xfers}")
        return head

    def create_variables(self, input_spaces):
        import tensorflow as tf

        self.generator = tf.random.Generator.from_seed(component_seed(self.global_scope, self.seed))
        # Listing the generator's state makes the random stream part of checkpoints.
        self.variables["sampler_state"] = self.generator.state

    # APIs --------------------------------------------------------------------
    @api
    def sample_actions(self, z, node_embeddings, graphs, xfer_tuples, location_masks, xfer_mask):
        """Draws x ~ p(x), then l ~ p(l | x)."""
        xfer_logits = self.xfer_head.logits(z, xfer_mask)
        xfers = self._graph_fn_sample(xfer_logits)
        location_logits = self.location_head.logits(node_embeddings, graphs, xfer_tuples, location_masks, xfers)
        locations = self._graph_fn_sample(location_logits)
        return self._scored_actions(xfer_logits, location_logits, xfers, locations)

    @api
    def greedy_actions(self, z, node_embeddings, graphs, xfer_tuples, location_masks, xfer_mask):
        """The most likely x, then the most likely l given that x."""
        xfer_logits = self.xfer_head.logits(z, xfer_mask)
        xfers = self._graph_fn_argmax(xfer_logits)
        location_logits = self.location_head.logits(node_embeddings, graphs, xfer_tuples, location_masks, xfers)
        locations = self._graph_fn_argmax(location_logits)
        return self._scored_actions(xfer_logits, location_logits, xfers, locations)

    @api
    def evaluate_actions(self, z, node_embeddings, graphs, xfer_tuples, location_masks, xfer_mask, xfers, locations):
        """Log-probabilities and entropies of given actions (location head conditioned on the given xfers)."""
        xfer_logits = self.xfer_head.logits(z, xfer_mask)
        location_logits = self.location_head.logits(node_embeddings, graphs, xfer_tuples, location_masks, xfers)
        scored = self._scored_actions(xfer_logits, location_logits, xfers, locations)
        return {key: value for key, value in scored.items() if key not in ("xfers", "locations")}

    def _scored_actions(self, xfer_logits, location_logits, xfers, locations) -> dict:
        xfer_log_probs, xfer_entropy = self._graph_fn_log_prob_and_entropy(xfer_logits, xfers, "xfers")
        location_log_probs, location_entropy = self._graph_fn_log_prob_and_entropy(location_logits, locations, "locations")
        return {
            "xfers": xfers,
            "locations": locations,
            "log_probs": self._graph_fn_joint_log_prob(xfer_log_probs, location_log_probs),
            "xfer_log_probs": xfer_log_probs,
            "location_log_probs": location_log_probs,
            "xfer_entropy": xfer_entropy,
            "location_entropy": location_entropy,
        }

    # Graph functions ---------------------------------------------------------
    def _check_logits(self, logits):
        self.require(isinstance(logits, FloatBox) and logits.rank == 1 and logits.batch_rank and not logits.time_rank,
                     "logits", "a FloatBox [B, actions]", logits)

    @graph_fn
    def _graph_fn_sample(self, logits):
        import tensorflow as tf

        # Gumbel-max: argmax(logits + Gumbel noise) is a sample of softmax(logits).
        # The noise is bounded (about -4.5 to 17 in float32), so a masked logit
        # (-1e9) never wins unless every action of the row is masked.
        uniform = self.generator.uniform(tf.shape(logits), minval=np.finfo(np.float32).tiny, maxval=1.0)
        gumbel = -tf.math.log(-tf.math.log(uniform))
        return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)

    @_graph_fn_sample.output_spaces
    def _graph_fn_sample(self, logits):
        self._check_logits(logits)
        return IntBox(logits.shape[0], batch_rank=True)

    @graph_fn
    def _graph_fn_argmax(self, logits):
        import tensorflow as tf

        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    @_graph_fn_argmax.output_spaces
    def _graph_fn_argmax(self, logits):
        self._check_logits(logits)
        return IntBox(logits.shape[0], batch_rank=True)

    @graph_fn
    def _graph_fn_log_prob_and_entropy(self, logits, actions, argument):
        import tensorflow as tf

        log_probs = tf.nn.log_softmax(logits, axis=-1)
        chosen = tf.gather(log_probs, tf.cast(actions, tf.int32), axis=1, batch_dims=1)
        probabilities = tf.exp(log_probs)
        # Masked actions have probability exactly 0 in float32; 0 * log 0 is 0.
        entropy = -tf.reduce_sum(tf.math.multiply_no_nan(log_probs, probabilities), axis=-1)
        return chosen, entropy

    @_graph_fn_log_prob_and_entropy.output_spaces
    def _graph_fn_log_prob_and_entropy(self, logits, actions, argument):
        """`argument` names the actions in errors ("xfers" or "locations")."""
        self._check_logits(logits)
        count = logits.shape[0]
        self.require(isinstance(actions, IntBox) and actions.shape == () and actions.batch_rank and not actions.time_rank
                     and actions.low >= 0 and actions.high is not None and actions.high <= count,
                     argument, f"an IntBox [B] with values in [0, {count})", actions)
        return FloatBox((), batch_rank=True), FloatBox((), batch_rank=True)

    @graph_fn
    def _graph_fn_joint_log_prob(self, xfer_log_probs, location_log_probs):
        return xfer_log_probs + location_log_probs

    @_graph_fn_joint_log_prob.output_spaces
    def _graph_fn_joint_log_prob(self, xfer_log_probs, location_log_probs):
        return FloatBox((), batch_rank=True)
