"""SelfImitationLoss: learn again from the best episode the agent has had.

Oh et al. 2018, "Self-Imitation Learning": besides its on-policy update, an
agent imitates its own past actions where they turned out better than it now
expects, i.e. where the return R that followed them exceeds the value V(s).
On graph optimisation a rewrite chain whose first step costs a launch (e.g.
bert_base's GELU scale, docs/RESULTS.md) is met rarely; on-policy PPO uses
such an episode once and forgets it, while imitating it keeps the chain
likely enough for the policy to repeat it at the other, structurally alike,
locations.

The imitation weight is binary, 1[R > V] (the filter of Wang et al. 2020,
"Critic Regularized Regression"), not SIL's (R - V)+: this project's rewards
are fractions of the initial runtime (about 1e-3 a step), so (R - V)+ would
make the term vanish next to PPO's normalised advantages, and the binary
filter needs no scale. Per step of a batch of the imitated episode:
  imitation_loss = -mean(1[R > V] * log pi(a|s))
  value_loss     = 0.5 * mean(max(R - V, 0)^2)   (raise V toward returns
                                                   that were achieved)
  total_loss     = coefficient * imitation_loss + value_coefficient * value_loss
  imitated_fraction = mean(1[R > V])
"""
from __future__ import annotations

from typing import Optional

from rlgraph_xflow.core import Component, FloatBox, api, graph_fn, register
from rlgraph_xflow.core.validation import check_non_negative_number

LOSS_PARTS = ("total_loss", "imitation_loss", "value_loss", "imitated_fraction")


@register("self_imitation_loss")
class SelfImitationLoss(Component):
    """Imitation of the steps whose achieved return beat the value estimate.

    Args:
        coefficient: weight of the imitation (log-likelihood) term.
        value_coefficient: weight of the one-sided value term.

    API:
        loss(log_probs, values, returns), each [B]
            -> {total_loss, imitation_loss, value_loss, imitated_fraction},
            each a scalar.
    """

    def __init__(self, coefficient: float = 1.0, value_coefficient: float = 0.5, scope: Optional[str] = None,
                 device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "self_imitation_loss"
        self.coefficient = check_non_negative_number(coefficient, f"{where}.coefficient", finite=True)
        self.value_coefficient = check_non_negative_number(value_coefficient, f"{where}.value_coefficient", finite=True)

    @api
    def loss(self, log_probs, values, returns):
        """The total loss and its parts (see the module docstring)."""
        return self._graph_fn_loss(log_probs, values, returns)

    @graph_fn
    def _graph_fn_loss(self, log_probs, values, returns):
        import tensorflow as tf

        returns = tf.stop_gradient(returns)
        # The filter compares with V as it is now; V's own gradient comes from the value term only.
        better = tf.cast(returns > tf.stop_gradient(values), tf.float32)
        imitation_loss = -tf.reduce_mean(better * log_probs)
        value_loss = 0.5 * tf.reduce_mean(tf.square(tf.nn.relu(returns - values)))
        return {
            "total_loss": self.coefficient * imitation_loss + self.value_coefficient * value_loss,
            "imitation_loss": imitation_loss, "value_loss": value_loss, "imitated_fraction": tf.reduce_mean(better),
        }

    @_graph_fn_loss.output_spaces
    def _graph_fn_loss(self, log_probs, values, returns):
        for name, space in (("log_probs", log_probs), ("values", values), ("returns", returns)):
            self.require(isinstance(space, FloatBox) and space.shape == () and space.batch_rank
                         and space.time_rank == log_probs.time_rank, name,
                         "a scalar FloatBox per step with the same leading ranks as log_probs", space)
        return {name: FloatBox(()) for name in LOSS_PARTS}
