"""Where rollouts are collected: in this process (local, the default) or on Ray.

`EXECUTIONS` (execution/registry.py) is the registry a config's
`execution: {type: ...}` is looked up in; importing this package registers:
  local: LocalExecution (execution/local.py), environments in this process.
  ray: RayExecution (execution/ray_execution.py), environments in Ray actors.
Registering "ray" does not import Ray: ray_execution imports it only when a
RayExecution is built, so a local run never loads it.

Also here: rollout_buffer.py (RolloutBuffer, PPO's on-policy steps between
collection and update; a numpy store, not a Component).
"""
from rlgraph_xflow.execution import local  # noqa: F401  (registers "local")
from rlgraph_xflow.execution import ray_execution  # noqa: F401  (registers "ray"; imports no Ray)
from rlgraph_xflow.execution.registry import EXECUTIONS

__all__ = ["EXECUTIONS"]
