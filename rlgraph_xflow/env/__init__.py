"""Environments agents act in.

`ENVIRONMENTS` (env/registry.py) is the registry a config's `env: {type: ...}`
is looked up in; importing this package registers:
  xflow: XflowEnv (env/xflow_env.py), one computation graph optimised by
    the substitution engine.
Also here: BatchedXflowEnv (env/vector_env.py), B XflowEnvs stepped together,
and DreamEnv (env/dream_env.py), episodes simulated by a learned world model
(built by the world-model agent, so not registered).
"""
from rlgraph_xflow.env.dream_env import DreamEnv
from rlgraph_xflow.env.registry import ENVIRONMENTS
from rlgraph_xflow.env.vector_env import BatchedXflowEnv
from rlgraph_xflow.env.xflow_env import XflowEnv  # registers "xflow"

__all__ = ["ENVIRONMENTS", "BatchedXflowEnv", "DreamEnv", "XflowEnv"]
