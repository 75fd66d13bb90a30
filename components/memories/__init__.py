"""Memories: components that remember across steps.

MDNRNN is the world model's recurrent memory (an LSTM with a mixture density
head). PPO's rollout buffer is not a Component: it lives in
rlgraph_xflow/execution/rollout_buffer.py.
"""
from rlgraph_xflow.components.memories.mdn_rnn import MDNRNN

__all__ = ["MDNRNN"]
