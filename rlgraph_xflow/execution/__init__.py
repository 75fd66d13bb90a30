"""Where rollouts are collected: in this process (local, the default) or on Ray.

`EXECUTIONS` is the registry a config's `execution: {type: ...}` is looked up in.
"""
from rlgraph_xflow.core.registry import Registry

EXECUTIONS = Registry("execution")

from rlgraph_xflow.execution import local  # noqa: E402,F401  (registers "local")
