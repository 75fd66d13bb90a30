"""Agents: components composed into learners (PPO, world model, baselines).

`AGENTS` is the registry a config's `agent: {type: ...}` is looked up in.
"""
from rlgraph_xflow.core.registry import Registry

AGENTS = Registry("agent")
