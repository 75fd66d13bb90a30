"""Environments agents act in.

`ENVIRONMENTS` is the registry a config's `env: {type: ...}` is looked up in.
"""
from rlgraph_xflow.core.registry import Registry

ENVIRONMENTS = Registry("environment")
