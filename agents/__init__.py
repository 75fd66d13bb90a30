"""Agents: components composed into learners (PPO, world model, baselines).

`AGENTS` is the registry a config's `agent: {type: ...}` is looked up in.
"""
from rlgraph_xflow.core.registry import Registry

AGENTS = Registry("agent")

from rlgraph_xflow.agents import ppo  # noqa: E402,F401  (registers "ppo")
from rlgraph_xflow.agents import world_model  # noqa: E402,F401  (registers "world_model")
