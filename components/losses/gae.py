"""GeneralizedAdvantageEstimation: GAE(gamma, lambda) advantages and returns.

Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized
Advantage Estimation":
  delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)
  A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
  R_t     = A_t + V(s_t)   (the value target)
V(s_T) is the bootstrap value of the state after the last stored step; a
`done` step cuts both the bootstrap and the recursion, so episodes that end
inside the rollout do not leak into each other.
"""
from __future__ import annotations

from typing import Optional

from rlgraph_xflow.core import BoolBox, Component, FloatBox, api, graph_fn, register
from rlgraph_xflow.core.validation import check_number_in_range


@register("gae")
class GeneralizedAdvantageEstimation(Component):
    """GAE over [B, T] rollouts (time rank explicit; time-major also accepted).

    Args:
        gamma: discount factor in [0, 1].
        gae_lambda: GAE lambda in [0, 1] (0: one-step TD; 1: Monte Carlo).

    API:
        advantages_and_returns(rewards [B, T], values [B, T], dones bool [B, T],
            bootstrap_values [B]) -> (advantages [B, T], returns [B, T])
        (with time-major spaces the [B, T] values are [T, B] instead).
    """

    def __init__(self, gamma: float = 0.99, gae_lambda: float = 0.97, scope: Optional[str] = None,
                 device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "gae"
        self.gamma = check_number_in_range(gamma, f"{where}.gamma", 0, 1)
        self.gae_lambda = check_number_in_range(gae_lambda, f"{where}.gae_lambda", 0, 1)

    @api
    def advantages_and_returns(self, rewards, values, dones, bootstrap_values):
        """GAE advantages and value targets, shaped like `rewards`."""
        return self._graph_fn_gae(rewards, values, dones, bootstrap_values)

    @graph_fn
    def _graph_fn_gae(self, rewards, values, dones, bootstrap_values):
        import tensorflow as tf

        time_major = self.input_spaces["rewards"].time_major
        if not time_major:
            rewards, values, dones = (tf.transpose(t) for t in (rewards, values, dones))
        rewards, values = tf.cast(rewards, tf.float32), tf.cast(values, tf.float32)
        continues = 1.0 - tf.cast(dones, tf.float32)
        next_values = tf.concat([values[1:], tf.cast(bootstrap_values, tf.float32)[None]], axis=0)
        deltas = rewards + self.gamma * next_values * continues - values
        decay = self.gamma * self.gae_lambda

        def step(next_advantage, elements):
            delta, keep = elements
            return delta + decay * keep * next_advantage

        advantages = tf.scan(step, (deltas, continues), initializer=tf.zeros_like(deltas[0]), reverse=True)
        returns = advantages + values
        if not time_major:
            advantages, returns = tf.transpose(advantages), tf.transpose(returns)
        return advantages, returns

    @_graph_fn_gae.output_spaces
    def _graph_fn_gae(self, rewards, values, dones, bootstrap_values):
        def sequence(space):
            return space.shape == () and space.batch_rank and space.time_rank

        self.require(isinstance(rewards, FloatBox) and sequence(rewards), "rewards", "a scalar FloatBox with batch and time ranks", rewards)
        self.require(isinstance(values, FloatBox) and sequence(values) and values.time_major == rewards.time_major, "values",
                     f"a scalar FloatBox with batch and time ranks (time_major={rewards.time_major}, as rewards)", values)
        self.require(isinstance(dones, BoolBox) and sequence(dones) and dones.time_major == rewards.time_major, "dones",
                     f"a scalar BoolBox with batch and time ranks (time_major={rewards.time_major}, as rewards)", dones)
        self.require(isinstance(bootstrap_values, FloatBox) and bootstrap_values.shape == () and bootstrap_values.batch_rank
                     and not bootstrap_values.time_rank, "bootstrap_values", "a scalar FloatBox [B] (no time rank)", bootstrap_values)
        space = FloatBox((), batch_rank=True, time_rank=True, time_major=rewards.time_major)
        return space, space
