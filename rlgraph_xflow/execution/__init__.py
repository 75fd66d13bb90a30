"""Where rollouts are collected: in this process (local, the default) or on Ray.

`EXECUTIONS` is the registry a config's `execution: {type: ...}` is looked up in:
  local: LocalExecution (execution/local.py), environments in this process.
  ray: RayExecution (execution/ray_execution.py), environments in Ray actors.
Registering "ray" does not import Ray: ray_execution imports it only when a
RayExecution is built, so a local run never loads it.
"""
from rlgraph_xflow.core.registry import Registry

EXECUTIONS = Registry("execution")

from rlgraph_xflow.execution import local  # noqa: E402,F401  (registers "local")
from rlgraph_xflow.execution import ray_execution  # noqa: E402,F401  (registers "ray"; imports no Ray)
