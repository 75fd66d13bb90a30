"""Losses and return estimators: GAE, the clipped PPO objective and self-imitation."""
from rlgraph_xflow.components.losses.gae import GeneralizedAdvantageEstimation
from rlgraph_xflow.components.losses.ppo_loss import PPOLoss
from rlgraph_xflow.components.losses.self_imitation_loss import SelfImitationLoss

__all__ = ["GeneralizedAdvantageEstimation", "PPOLoss", "SelfImitationLoss"]
