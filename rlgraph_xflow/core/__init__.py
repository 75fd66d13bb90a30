"""The component framework: spaces, components, registry, trace and build.

Public names:
  Space types (FloatBox, IntBox, BoolBox, Dict, Tuple, GraphSpace),
  Component with the @api and @graph_fn decorators (and
  GraphFunctionControlFlowError), register/from_spec,
  trace (the meta-graph phase), build (the TF phase), Executor, ComponentTest.
Spec and argument checks shared by every layer: rlgraph_xflow.core.validation.
The files every training loop keeps: checkpoint.py (atomic checkpoints and
latest.json) and metrics_log.py (metrics.csv).
The core knows nothing of computation graphs, engines or agents.
"""
from rlgraph_xflow.core.component import Component, GraphFunctionControlFlowError, SpaceMismatchError, api, graph_fn
from rlgraph_xflow.core.executor import BuildStats, Executor
from rlgraph_xflow.core.meta_graph import MetaGraph, SpaceRecord, TraceError, trace
from rlgraph_xflow.core.registry import COMPONENTS, Registry, SpecError, from_spec, register
from rlgraph_xflow.core.spaces import (
    BoolBox,
    Dict,
    FloatBox,
    GraphSpace,
    IntBox,
    Space,
    SpaceError,
    Tuple,
    space_from_spec,
)
from rlgraph_xflow.core.testing import ComponentTest
from rlgraph_xflow.core.tf_builder import build

__all__ = [
    "BoolBox", "BuildStats", "COMPONENTS", "Component", "ComponentTest", "Dict", "Executor", "FloatBox",
    "GraphFunctionControlFlowError", "GraphSpace", "IntBox", "MetaGraph", "Registry", "Space", "SpaceError", "SpaceMismatchError", "SpaceRecord",
    "SpecError", "TraceError", "Tuple", "api", "build", "from_spec", "graph_fn", "register", "space_from_spec", "trace",
]
