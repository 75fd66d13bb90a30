"""LatentLocationHead: scores the locations of a chosen xfer from a state latent.

Classes in this file:
  LatentLocationHead: masked location logits [B, L] from a state feature
    vector (the world-model controller's [z, h]), a learned embedding of the
    chosen xfer and a learned embedding of each location slot.

Why a second location head: LocationHead pools the embeddings of the graph
nodes a location matched, but inside the world model ("the dream") there is
no graph, only the latent z, the MDN-RNN state h and the predicted masks. A
location slot j of xfer i is an index into the matcher's deterministic
location order, so a learned embedding per slot, combined with the xfer
embedding and the state, is the information a dream state offers about it.
The same head acts in the real environment, where the controller sees the
encoder's z and the MDN-RNN state of the real trajectory (World Models'
controller, Ha and Schmidhuber 2018, section 2.3).

The first hidden layer is applied to the concatenation [features, xfer
embedding, location embedding] without materialising it: its kernel splits
into a state part (one product per row) and a location part (one product per
slot), added with broadcasting, which costs B x L x H instead of
B x L x (F + E + H).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from rlgraph_xflow.components.heads.location_head import chosen_location_mask
from rlgraph_xflow.components.heads.xfer_policy_head import check_layer_widths, mask_logits
from rlgraph_xflow.components.layers.activations import apply_activation, check_activation
from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.components.layers.initializers import component_seed, glorot_uniform
from rlgraph_xflow.components.layers.mlp import MLP
from rlgraph_xflow.core import BoolBox, Component, FloatBox, IntBox, SpecError, api, graph_fn, register
from rlgraph_xflow.core.validation import check_positive_int


@register("latent_location_head")
class LatentLocationHead(Component):
    """Masked location logits [B, L] for one chosen xfer per state.

    Args:
        num_xfers: N; xfer ids are in [0, N], N being NO-OP.
        xfer_embedding_size: width of the learned xfer-id embedding.
        hidden_layers: widths of the scoring MLP (at least one layer; the
            first is the one applied to [features, xfer, location]).
        activation: activation of the hidden layers.
        seed: initializer seed.

    API:
        logits(features [B, F], location_masks bool [B, N, L], xfers int [B])
            -> masked logits [B, L].

    For NO-OP (xfers == N) only location 0 is valid (a point mass), as in
    LocationHead, so a NO-OP's joint log-probability is the xfer head's alone.
    """

    def __init__(self, num_xfers: int, xfer_embedding_size: int = 16, hidden_layers: Sequence[int] = (64,),
                 activation: str = "relu", seed: int = 0, scope: Optional[str] = None, device: Optional[str] = None,
                 key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "latent_location_head"
        self.num_xfers = check_positive_int(num_xfers, f"{where}.num_xfers")
        self.xfer_embedding_size = check_positive_int(xfer_embedding_size, f"{where}.xfer_embedding_size")
        widths = check_layer_widths(hidden_layers, f"{where}.hidden_layers")
        if not widths:
            raise SpecError(f"{where}.hidden_layers", f"expected at least one hidden layer width (the state-location layer), got {hidden_layers!r}")
        self.activation = check_activation(activation, f"{where}.activation")
        self.seed = seed
        self.first_width = widths[0]
        # The state part of the first layer; the location part is this
        # component's location_embedding, already in the first layer's width.
        self.state_layer = Dense(self.first_width, seed=seed, scope="state", key_path=f"{where}.hidden_layers[0]")
        self.hidden = MLP(widths[1:], activation=self.activation, seed=seed, scope="hidden",
                          key_path=f"{where}.hidden_layers") if len(widths) > 1 else None
        self.score_layer = Dense(1, seed=seed, scope="score", key_path=where)
        self.add_components(self.state_layer, *([self.hidden] if self.hidden else []), self.score_layer)

    def create_variables(self, input_spaces):
        seed = component_seed(self.global_scope, self.seed)
        rng = np.random.default_rng(seed)
        self.xfer_embedding = self.get_variable(
            "xfer_embedding", (self.num_xfers + 1, self.xfer_embedding_size),
            initializer=lambda shape, dtype: rng.normal(0.0, 1.0, size=shape).astype(dtype))
        locations = input_spaces["location_masks"].shape[1]
        self.location_embedding = self.get_variable("location_embedding", (locations, self.first_width),
                                                    initializer=glorot_uniform(seed + 1))

    @api
    def logits(self, features, location_masks, xfers):
        """Masked location logits [B, L] of the xfer `xfers[b]` of each state b."""
        state = self.state_layer.apply(self._graph_fn_state_inputs(features, xfers))
        hidden = self._graph_fn_add_locations(state, location_masks)
        if self.hidden is not None:
            hidden = self.hidden.apply(hidden)
        return self._graph_fn_masked_scores(self.score_layer.apply(hidden), location_masks, xfers)

    # Graph functions ---------------------------------------------------------
    @graph_fn
    def _graph_fn_state_inputs(self, features, xfers):
        import tensorflow as tf

        return tf.concat([features, tf.gather(self.xfer_embedding, tf.cast(xfers, tf.int32))], axis=-1)

    @_graph_fn_state_inputs.output_spaces
    def _graph_fn_state_inputs(self, features, xfers):
        self.require(isinstance(features, FloatBox) and features.rank == 1 and features.batch_rank and not features.time_rank,
                     "features", "a FloatBox [B, F] (one state vector per row, no time rank)", features)
        self._check_xfers(xfers)
        return FloatBox((features.shape[0] + self.xfer_embedding_size,), batch_rank=True)

    @graph_fn
    def _graph_fn_add_locations(self, state, location_masks):
        return apply_activation(self.activation, state[:, None, :] + self.location_embedding[None, :, :])

    @_graph_fn_add_locations.output_spaces
    def _graph_fn_add_locations(self, state, location_masks):
        self._check_location_masks(location_masks)
        return FloatBox((location_masks.shape[1], self.first_width), batch_rank=True)

    @graph_fn
    def _graph_fn_masked_scores(self, scores, location_masks, xfers):
        import tensorflow as tf

        return mask_logits(tf.squeeze(scores, axis=-1), chosen_location_mask(location_masks, xfers, self.num_xfers))

    @_graph_fn_masked_scores.output_spaces
    def _graph_fn_masked_scores(self, scores, location_masks, xfers):
        self._check_location_masks(location_masks)
        self._check_xfers(xfers)
        return FloatBox((location_masks.shape[1],), batch_rank=True)

    def _check_location_masks(self, location_masks):
        self.require(isinstance(location_masks, BoolBox) and location_masks.rank == 2 and location_masks.shape[0] == self.num_xfers
                     and location_masks.batch_rank and not location_masks.time_rank,
                     "location_masks", f"a BoolBox [B, N={self.num_xfers}, L]", location_masks)
        known = self.input_spaces.get("location_masks")
        self.require(known is None or known.shape == location_masks.shape, "location_masks",
                     f"the shape {known.shape if known else '?'} this head was first called with (L is fixed by its location embedding)",
                     location_masks)

    def _check_xfers(self, xfers):
        self.require(isinstance(xfers, IntBox) and xfers.shape == () and xfers.batch_rank and not xfers.time_rank
                     and xfers.low >= 0 and xfers.high is not None and xfers.high <= self.num_xfers + 1,
                     "xfers", f"an IntBox [B] of xfer ids in [0, {self.num_xfers}] ({self.num_xfers} is NO-OP)", xfers)
