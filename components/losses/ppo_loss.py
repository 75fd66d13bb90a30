"""PPOLoss: the clipped surrogate objective with value and entropy terms.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms"; dissertation
Algorithm 3. With r = exp(log pi(a|s) - log pi_old(a|s)), where log pi is the
joint two-stage log-probability log p(x) + log p(l | x):
  policy_loss = -mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A))
  value_loss  = 0.5 * mean((V - R)^2), or with value clipping
                0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2))
  entropy_bonus = entropy_coefficient * mean(xfer entropy)
                  + location_entropy_coefficient * mean(location entropy)
  total_loss  = policy_loss + value_coefficient * value_loss - entropy_bonus
"""
from __future__ import annotations

from typing import Optional

from rlgraph_xflow.core import Component, FloatBox, api, graph_fn, register
from rlgraph_xflow.core.validation import check_bool, check_number_in_range

LOSS_PARTS = ("total_loss", "policy_loss", "value_loss", "entropy_bonus", "xfer_entropy", "location_entropy",
              "approximate_kl", "clip_fraction")


@register("ppo_loss")
class PPOLoss(Component):
    """Clipped PPO loss over a minibatch of steps.

    Args:
        clip_ratio: epsilon of the clipped ratio (dissertation: 0.3).
        value_coefficient: weight of the value loss in the total.
        entropy_coefficient: weight of the xfer entropy bonus.
        location_entropy_coefficient: weight of the location entropy bonus
            (default: entropy_coefficient).
        value_clip: clip the value update to +-value_clip around the old
            value (null: no clipping).
        normalize_advantages: standardise the advantages over the minibatch.

    API:
        loss(log_probs, old_log_probs, advantages, values, old_values, returns,
             xfer_entropy, location_entropy), each [B]
            -> {total_loss, policy_loss, value_loss, entropy_bonus,
                xfer_entropy, location_entropy (means), approximate_kl,
                clip_fraction}, each a scalar.
    """

    def __init__(self, clip_ratio: float = 0.3, value_coefficient: float = 0.5, entropy_coefficient: float = 0.01,
                 location_entropy_coefficient: Optional[float] = None, value_clip: Optional[float] = None,
                 normalize_advantages: bool = True, scope: Optional[str] = None, device: Optional[str] = None,
                 key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "ppo_loss"
        self.clip_ratio = check_number_in_range(clip_ratio, f"{where}.clip_ratio", 0.0, 1.0)
        self.value_coefficient = check_number_in_range(value_coefficient, f"{where}.value_coefficient", 0.0)
        self.entropy_coefficient = check_number_in_range(entropy_coefficient, f"{where}.entropy_coefficient", 0.0)
        location = check_number_in_range(location_entropy_coefficient, f"{where}.location_entropy_coefficient", 0.0, allow_none=True)
        self.location_entropy_coefficient = self.entropy_coefficient if location is None else location
        self.value_clip = check_number_in_range(value_clip, f"{where}.value_clip", 0.0, allow_none=True)
        self.normalize_advantages = check_bool(normalize_advantages, f"{where}.normalize_advantages")

    @api
    def loss(self, log_probs, old_log_probs, advantages, values, old_values, returns, xfer_entropy, location_entropy):
        """The total loss and its parts (see the module docstring)."""
        return self._graph_fn_loss(log_probs, old_log_probs, advantages, values, old_values, returns, xfer_entropy, location_entropy)

    @graph_fn
    def _graph_fn_loss(self, log_probs, old_log_probs, advantages, values, old_values, returns, xfer_entropy, location_entropy):
        import tensorflow as tf

        advantages = tf.stop_gradient(tf.cast(advantages, tf.float32))
        if self.normalize_advantages:
            mean, variance = tf.nn.moments(advantages, axes=list(range(advantages.shape.rank)))
            advantages = (advantages - mean) / (tf.sqrt(variance) + 1e-8)
        log_ratio = log_probs - tf.stop_gradient(old_log_probs)
        ratio = tf.exp(log_ratio)
        clipped_ratio = tf.clip_by_value(ratio, 1.0 - self.clip_ratio, 1.0 + self.clip_ratio)
        policy_loss = -tf.reduce_mean(tf.minimum(ratio * advantages, clipped_ratio * advantages))

        returns, old_values = tf.stop_gradient(returns), tf.stop_gradient(old_values)
        squared_error = tf.square(values - returns)
        if self.value_clip is not None:
            clipped_values = old_values + tf.clip_by_value(values - old_values, -self.value_clip, self.value_clip)
            squared_error = tf.maximum(squared_error, tf.square(clipped_values - returns))
        value_loss = 0.5 * tf.reduce_mean(squared_error)

        mean_xfer_entropy, mean_location_entropy = tf.reduce_mean(xfer_entropy), tf.reduce_mean(location_entropy)
        entropy_bonus = self.entropy_coefficient * mean_xfer_entropy + self.location_entropy_coefficient * mean_location_entropy
        total_loss = policy_loss + self.value_coefficient * value_loss - entropy_bonus
        # Diagnostics, not differentiated: the k1 KL estimate and how often the ratio is clipped.
        approximate_kl = tf.stop_gradient(tf.reduce_mean(-log_ratio))
        clip_fraction = tf.stop_gradient(tf.reduce_mean(tf.cast(tf.abs(ratio - 1.0) > self.clip_ratio, tf.float32)))
        return {
            "total_loss": total_loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy_bonus": entropy_bonus,
            "xfer_entropy": mean_xfer_entropy, "location_entropy": mean_location_entropy,
            "approximate_kl": approximate_kl, "clip_fraction": clip_fraction,
        }

    @_graph_fn_loss.output_spaces
    def _graph_fn_loss(self, log_probs, old_log_probs, advantages, values, old_values, returns, xfer_entropy, location_entropy):
        arguments = {"log_probs": log_probs, "old_log_probs": old_log_probs, "advantages": advantages, "values": values,
                     "old_values": old_values, "returns": returns, "xfer_entropy": xfer_entropy, "location_entropy": location_entropy}
        for name, space in arguments.items():
            self.require(isinstance(space, FloatBox) and space.shape == () and space.batch_rank
                         and space.time_rank == log_probs.time_rank and space.time_major == log_probs.time_major,
                         name, "a scalar FloatBox per step with the same leading ranks as log_probs", space)
        return {name: FloatBox(()) for name in LOSS_PARTS}
