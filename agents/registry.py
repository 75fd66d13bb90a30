"""AGENTS: the registry a config's `agent: {type: ...}` is looked up in.

Agent modules register themselves with `@AGENTS.register(name)`; importing
`rlgraph_xflow.agents` imports them all, so the registry is complete there.
"""
from rlgraph_xflow.core.registry import Registry

AGENTS = Registry("agent")
