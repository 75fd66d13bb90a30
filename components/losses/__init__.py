"""Losses and return estimators: GAE and the clipped PPO objective."""
from rlgraph_xflow.components.losses.gae import GeneralizedAdvantageEstimation
from rlgraph_xflow.components.losses.ppo_loss import PPOLoss

__all__ = ["GeneralizedAdvantageEstimation", "PPOLoss"]
