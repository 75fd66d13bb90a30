"""ENVIRONMENTS: the registry a config's `env: {type: ...}` is looked up in.

Environment modules register themselves with `@ENVIRONMENTS.register(name)`;
importing `rlgraph_xflow.env` imports them all, so the registry is complete
there.
"""
from rlgraph_xflow.core.registry import Registry

ENVIRONMENTS = Registry("environment")
