"""Memories: where experience is kept between acting and learning.

RolloutBuffer stores PPO's on-policy steps; MDNRNN is the world model's
recurrent memory (an LSTM with a mixture density head).
"""
from rlgraph_xflow.components.memories.mdn_rnn import MDNRNN
from rlgraph_xflow.components.memories.rollout_buffer import RolloutBuffer

__all__ = ["MDNRNN", "RolloutBuffer"]
