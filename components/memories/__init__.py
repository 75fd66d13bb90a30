"""Memories: where experience is kept between acting and learning."""
from rlgraph_xflow.components.memories.rollout_buffer import RolloutBuffer

__all__ = ["RolloutBuffer"]
