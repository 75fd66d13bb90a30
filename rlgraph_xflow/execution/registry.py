"""EXECUTIONS: the registry a config's `execution: {type: ...}` is looked up in.

Execution modules register themselves with `@EXECUTIONS.register(name)`;
importing `rlgraph_xflow.execution` imports them all, so the registry is
complete there.
"""
from rlgraph_xflow.core.registry import Registry

EXECUTIONS = Registry("execution")
