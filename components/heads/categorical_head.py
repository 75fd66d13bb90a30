"""CategoricalHead: logits over a discrete action set, sampling and log-probs."""
from __future__ import annotations

from typing import Optional

import numpy as np

from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.components.layers.initializers import component_seed
from rlgraph_xflow.core import Component, FloatBox, IntBox, api, graph_fn, register
from rlgraph_xflow.core.validation import check_positive_int


@register("categorical_head")
class CategoricalHead(Component):
    """A categorical distribution over `num_actions` actions.

    Sampling uses the Gumbel-max trick with a seeded `tf.random.Generator`
    whose state is a variable of this component, so a checkpoint restores
    the random stream too.

    Args:
        num_actions: number of discrete actions.
        seed: seed of the initializer and of the sampler.
    """

    def __init__(self, num_actions: int, seed: int = 0, scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        self.num_actions = check_positive_int(num_actions, f"{key_path or 'categorical_head'}.num_actions")
        self.seed = seed
        self.logits_layer = Dense(num_actions, seed=seed, scope="logits", key_path=f"{key_path}.num_actions")
        self.add_components(self.logits_layer)

    def create_variables(self, input_spaces):
        import tensorflow as tf

        self.generator = tf.random.Generator.from_seed(component_seed(self.global_scope, self.seed))
        # The generator owns its state variable; listing it here makes it part
        # of checkpoints like any other variable.
        self.variables["sampler_state"] = self.generator.state

    @api
    def get_logits(self, inputs):
        """Unnormalised log-probabilities, shape [..., num_actions]."""
        return self.logits_layer.apply(inputs)

    @api
    def sample_action(self, inputs):
        """Draws an action from softmax(logits)."""
        return self._graph_fn_sample(self.get_logits(inputs))

    @api
    def greedy_action(self, inputs):
        """The most likely action."""
        return self._graph_fn_argmax(self.get_logits(inputs))

    @api
    def log_prob(self, inputs, actions):
        """log p(actions | inputs)."""
        return self._graph_fn_log_prob(self.get_logits(inputs), actions)

    @api
    def entropy(self, inputs):
        """Entropy of the action distribution."""
        return self._graph_fn_entropy(self.get_logits(inputs))

    def _action_space(self, logits: FloatBox) -> IntBox:
        return IntBox(self.num_actions, shape=logits.shape[:-1], batch_rank=logits.batch_rank, time_rank=logits.time_rank)

    def _check_logits(self, logits):
        self.require(isinstance(logits, FloatBox) and logits.rank >= 1 and logits.shape[-1] == self.num_actions,
                     "logits", f"a FloatBox with {self.num_actions} logits last", logits)

    @graph_fn
    def _graph_fn_sample(self, logits):
        import tensorflow as tf

        uniform = self.generator.uniform(tf.shape(logits), minval=np.finfo(np.float32).tiny, maxval=1.0)
        gumbel = -tf.math.log(-tf.math.log(uniform))
        return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)

    @_graph_fn_sample.output_spaces
    def _graph_fn_sample(self, logits):
        self._check_logits(logits)
        return self._action_space(logits)

    @graph_fn
    def _graph_fn_argmax(self, logits):
        import tensorflow as tf

        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    @_graph_fn_argmax.output_spaces
    def _graph_fn_argmax(self, logits):
        self._check_logits(logits)
        return self._action_space(logits)

    @graph_fn
    def _graph_fn_log_prob(self, logits, actions):
        import tensorflow as tf

        log_probs = tf.nn.log_softmax(logits, axis=-1)
        return tf.gather(log_probs, tf.cast(actions, tf.int32), axis=-1, batch_dims=actions.shape.rank)

    @_graph_fn_log_prob.output_spaces
    def _graph_fn_log_prob(self, logits, actions):
        self._check_logits(logits)
        expected = self._action_space(logits)
        self.require(
            isinstance(actions, IntBox) and actions.shape == expected.shape and actions.batch_rank == expected.batch_rank
            and actions.low >= 0 and actions.high is not None and actions.high <= self.num_actions,
            "actions", f"an IntBox of shape {expected.shape} with values in [0, {self.num_actions}) matching the logits' leading ranks", actions)
        return FloatBox(logits.shape[:-1], batch_rank=logits.batch_rank, time_rank=logits.time_rank)

    @graph_fn
    def _graph_fn_entropy(self, logits):
        import tensorflow as tf

        log_probs = tf.nn.log_softmax(logits, axis=-1)
        return -tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=-1)

    @_graph_fn_entropy.output_spaces
    def _graph_fn_entropy(self, logits):
        self._check_logits(logits)
        return FloatBox(logits.shape[:-1], batch_rank=logits.batch_rank, time_rank=logits.time_rank)
