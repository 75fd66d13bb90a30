"""The C++ engine's Python face: what the other layers use of it.

Holds (from the native module `_engine`, built from ops/bindings/*.cc):
  Graph: an engine computation graph (serializable with to_bytes/from_bytes).
  RuleLibrary: the substitution rules (xfers) loaded from *.rules files.
  EnvironmentState: the environment's state machine, matcher and observation.
  KernelPricer: prices graphs from a table of measured kernel costs.
  greedy, backtracking: the engine's graph searches.
  supported_op_types, constant_int_inputs, device_profiles, dtype_name,
    onnx_dtype_code, node_feature_size: facts about ops, devices, data types
    and observations.
  DEFAULT_MAX_LOCATIONS, MAX_INT_VALUES: the engine's limits.
  EngineError (a ValueError) and its subclasses GraphError,
    SerializationError, CostError, RuleError, ApplyError.
and RULES_DIR, the packaged rule library (ops/rules, installed as
rlgraph_xflow/ops/rules).

Layers above import these names from here, never `_engine` itself. Importing
this package loads only the native module; the TF custom ops
(`rlgraph_xflow.ops.tf_ops`) load TensorFlow and are imported on their own.
"""
import os as _os

from rlgraph_xflow.ops._engine import (
    DEFAULT_MAX_LOCATIONS,
    MAX_INT_VALUES,
    ApplyError,
    CostError,
    EngineError,
    EnvironmentState,
    Graph,
    GraphError,
    KernelPricer,
    RuleError,
    RuleLibrary,
    SerializationError,
    backtracking,
    constant_int_inputs,
    device_profiles,
    dtype_name,
    greedy,
    node_feature_size,
    onnx_dtype_code,
    supported_op_types,
)

RULES_DIR = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "rules")

__all__ = [
    "DEFAULT_MAX_LOCATIONS",
    "MAX_INT_VALUES",
    "RULES_DIR",
    "ApplyError",
    "CostError",
    "EngineError",
    "EnvironmentState",
    "Graph",
    "GraphError",
    "KernelPricer",
    "RuleError",
    "RuleLibrary",
    "SerializationError",
    "backtracking",
    "constant_int_inputs",
    "device_profiles",
    "dtype_name",
    "greedy",
    "node_feature_size",
    "onnx_dtype_code",
    "supported_op_types",
]
