"""Agents: components composed into learners (PPO, world model, baselines).

`AGENTS` (agents/registry.py) is the registry a config's `agent: {type: ...}`
is looked up in; importing this package registers every agent:
  ppo: PPOAgent (agents/ppo.py).
  world_model: WorldModelAgent (agents/world_model.py).
"""
from rlgraph_xflow.agents import ppo, world_model  # noqa: F401  (registers "ppo" and "world_model")
from rlgraph_xflow.agents.registry import AGENTS

__all__ = ["AGENTS"]
