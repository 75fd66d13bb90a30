"""Errors raised by the graph layer (ONNX import/export and the engine).

Holds:
  OnnxLoadError: an ONNX model cannot be loaded (names the file and problem).
  OnnxExportError: an engine graph cannot be written back as ONNX.
  EngineError, GraphError, SerializationError, CostError: the C++ engine's
    errors (rlgraph_xflow.ops), re-exported for callers of the graph layer.
All are ValueErrors.
"""
from __future__ import annotations

from rlgraph_xflow.ops import CostError, EngineError, GraphError, SerializationError

__all__ = ["CostError", "EngineError", "GraphError", "OnnxExportError", "OnnxLoadError", "SerializationError"]


class OnnxLoadError(ValueError):
    """An ONNX model could not be loaded; the message names the source and the problem."""


class OnnxExportError(ValueError):
    """An engine graph could not be exported to ONNX; the message names the op or weight."""
