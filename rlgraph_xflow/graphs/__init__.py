"""Computation graphs: ONNX import/export over the C++ engine, and the model zoo.

Holds (re-exported here):
  load(path_or_model, batch_size=1, symbolic_dims=None) -> XflowGraph
  export(graph) -> onnx.ModelProto
  to_tensorflow(model) -> TensorflowRunner: the model in TensorFlow through onnx-tf
    (numpy feeds in, numpy outputs out; tensorflow_runtime.py)
  XflowGraph, GraphCost, OpCostRecord, OpaqueOp, TensorInfo
  OnnxLoadError, OnnxExportError and the engine's errors.
Submodules: onnx_io, xflow_graph, errors (this package's engine face);
tensorflow_runtime (TensorFlow as a runtime, through onnx-tf);
zoo, verify, measure (model builders, onnxruntime checks, measured costs).
Importing this package does not import TensorFlow.
"""
from rlgraph_xflow.graphs.errors import (
    CostError,
    EngineError,
    GraphError,
    OnnxExportError,
    OnnxLoadError,
    SerializationError,
)
from rlgraph_xflow.graphs.onnx_io import export, load
from rlgraph_xflow.graphs.tensorflow_runtime import TensorflowRunner, to_tensorflow
from rlgraph_xflow.graphs.xflow_graph import GraphCost, OpaqueOp, OpCostRecord, TensorInfo, XflowGraph

__all__ = [
    "CostError",
    "EngineError",
    "GraphCost",
    "GraphError",
    "OnnxExportError",
    "OnnxLoadError",
    "OpCostRecord",
    "OpaqueOp",
    "SerializationError",
    "TensorInfo",
    "TensorflowRunner",
    "XflowGraph",
    "export",
    "load",
    "to_tensorflow",
]
