"""XflowGraph: an engine graph together with what the engine does not hold.

Holds:
  TensorInfo: name, dtype and shape of a graph input or output.
  OpaqueOp: an op the engine carries untouched (name, ONNX type, domain).
  OpCostRecord, GraphCost: a graph's four cost metrics and per-op breakdown.
  XflowGraph: the C++ engine graph plus the weight store (name -> numpy
    array for every Weight and Constant op), the ONNX opset imports and IR
    version needed to export it again, and convenience queries (hash, op
    counts, opaque ops, cost, measurement descriptors).

Cost providers (XflowGraph.cost):
  "measured"  onnxruntime's kernels as they run inside a graph, from a
              measured table of this machine (kernels it lacks are measured)
              or of the named device (graphs/kernel_costs.py).
  a MeasuredCostModel (graphs/kernel_costs.py): the same, with its table.
  "analytic"  the engine's roofline model for a named device profile
              (rtx2070, v100, h100, cpu).
  "table"     measured runtimes given as {cost_key: ms}; a missing key raises
              CostError unless fallback_to_analytic=True.
  an object with .costs(descriptors) -> {cost_key: ms}: asked for the
              graph's measurement descriptors, then priced like "table".
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any, Mapping

import numpy as np
import onnx

from rlgraph_xflow.graphs.errors import CostError
from rlgraph_xflow.graphs.kernel_costs import MeasuredCostModel
from rlgraph_xflow.ops import Graph

__all__ = ["GraphCost", "OpCostRecord", "OpaqueOp", "TensorInfo", "XflowGraph"]

# Engine op kinds that are not ONNX nodes.
_LEAF_KINDS = ("Input", "Weight")


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """A graph input or output."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class OpaqueOp:
    """An op the engine does not model; it is carried through unchanged."""

    name: str
    op_type: str
    domain: str


@dataclasses.dataclass(frozen=True)
class OpCostRecord:
    """One op's share of a graph's cost."""

    name: str
    op_type: str
    cost_key: str
    runtime_ms: float
    flops: float
    mem_access_bytes: float
    kernel_launches: int


@dataclasses.dataclass(frozen=True)
class GraphCost:
    """A graph's cost: the four metrics plus the per-op breakdown."""

    runtime_ms: float
    flops: float
    mem_access_bytes: float
    kernel_launches: int
    ops: tuple[OpCostRecord, ...]

    def metrics(self) -> dict[str, float]:
        """The four metrics as a plain dict."""
        return {
            "runtime_ms": self.runtime_ms,
            "flops": self.flops,
            "mem_access_bytes": self.mem_access_bytes,
            "kernel_launches": self.kernel_launches,
        }


def _simple_attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """Attributes a measurement descriptor can carry (int, float, string, and lists of them)."""
    kinds = onnx.AttributeProto
    converted = {}
    for attribute in node.attribute:
        if attribute.type in (kinds.INT, kinds.FLOAT, kinds.INTS, kinds.FLOATS):
            value = onnx.helper.get_attribute_value(attribute)
            converted[attribute.name] = list(value) if isinstance(value, (list, tuple)) else value
        elif attribute.type == kinds.STRING:
            converted[attribute.name] = attribute.s.decode("utf-8", errors="replace")
    return converted


class XflowGraph:
    """An engine graph plus its weights and ONNX metadata.

    Build one with `rlgraph_xflow.graphs.load`; write it back with
    `rlgraph_xflow.graphs.export`.

    Attributes:
        engine: the C++ graph (`rlgraph_xflow.ops.Graph`).
        weights: numpy data of every Weight and Constant op, by op name.
        opset_imports: (domain, version) pairs to export with.
        ir_version: ONNX IR version to export with.
        source: where the graph came from (a path, or "<ModelProto>").
    """

    def __init__(
        self,
        engine: Graph,
        weights: Mapping[str, np.ndarray],
        opset_imports: list[tuple[str, int]],
        ir_version: int,
        source: str = "<graph>",
    ) -> None:
        self.engine = engine
        self.weights = dict(weights)
        self.opset_imports = list(opset_imports)
        self.ir_version = int(ir_version)
        self.source = source

    def with_engine(self, engine: Graph) -> "XflowGraph":
        """A new XflowGraph over `engine` sharing this graph's weights and ONNX metadata.

        The weight store is shared on purpose: rewrites never change weight
        data (new weights are ops over weight leaves).
        """
        derived = XflowGraph(engine, {}, self.opset_imports, self.ir_version, self.source)
        derived.weights = self.weights
        return derived

    def hash(self) -> int:
        """Canonical 64-bit content hash of the computation (see ops/engine/hash.cc)."""
        return self.engine.hash()

    @property
    def num_ops(self) -> int:
        """Number of ONNX-node ops: every op except graph inputs and weights."""
        return sum(count for count in self.op_types.values())

    @property
    def op_types(self) -> dict[str, int]:
        """Op counts by type, graph inputs and weights excluded; opaque ops count as "Opaque"."""
        counts = collections.Counter(op["type"] for op in self.engine.ops() if op["type"] not in _LEAF_KINDS)
        return dict(sorted(counts.items()))

    @property
    def opaque_ops(self) -> list[OpaqueOp]:
        """The ops the engine carries without modelling them, in graph order."""
        return [
            OpaqueOp(op["name"], op["params"]["onnx_op_type"], op["params"]["onnx_domain"])
            for op in self.engine.ops()
            if op["type"] == "Opaque"
        ]

    @property
    def inputs(self) -> list[TensorInfo]:
        """The graph inputs (the engine's Input ops), in order."""
        return [
            TensorInfo(op["name"], op["output_types"][0][0], tuple(op["output_types"][0][1]))
            for op in self.engine.ops()
            if op["type"] == "Input"
        ]

    @property
    def outputs(self) -> list[TensorInfo]:
        """The graph outputs, in order."""
        infos = []
        for op_index, output_index, name in self.engine.outputs:
            dtype, shape = self.engine.op(op_index)["output_types"][output_index]
            infos.append(TensorInfo(name, dtype, tuple(shape)))
        return infos

    def to_bytes(self) -> bytes:
        """The engine graph's compact binary form (weights' data not included)."""
        return self.engine.to_bytes()

    def measurement_descriptors(self) -> list[dict[str, Any]]:
        """One op descriptor per distinct cost key that needs a runtime (see graphs/measure.py).

        Opaque ops get their attributes from their stored ONNX node (only
        int/float/string attributes and lists of them can be carried).
        """
        descriptors = self.engine.measurement_descriptors()
        for descriptor in descriptors:
            op = self.engine.op(descriptor["op_index"])
            if op["type"] == "Opaque":
                node = onnx.NodeProto.FromString(self.engine.opaque_node_proto(descriptor["op_index"]))
                descriptor["attributes"] = _simple_attributes(node)
        return descriptors

    def cost(
        self,
        provider: Any = "analytic",
        device: str | None = None,
        cost_table: Mapping[str, float] | None = None,
        fallback_to_analytic: bool = False,
    ) -> GraphCost:
        """Prices the graph.

        Args:
            provider: "measured", "analytic", "table", a MeasuredCostModel,
                or an object with `.costs(descriptors) -> {cost_key: ms}`.
            device: device profile for "analytic" (and for the fallback;
                default h100);
                for "measured", the table's device (None: this machine).
            cost_table: {cost_key: ms} for provider="table".
            fallback_to_analytic: price keys missing from a measured table
                with the roofline on `device` instead of raising.

        Returns:
            GraphCost with runtime_ms, flops, mem_access_bytes,
            kernel_launches and the per-op records.

        Raises:
            CostError: unknown provider or device, a missing cost key, or a
                negative runtime in the table.
        """
        if isinstance(provider, str) and provider == "measured":
            provider = MeasuredCostModel(device=device)
        if isinstance(provider, MeasuredCostModel):
            result = provider.price(self.engine)
        elif isinstance(provider, str) and provider == "analytic":
            result = self.engine.cost(device=device or "h100")
        else:
            if isinstance(provider, str):
                if provider != "table":
                    raise CostError(
                        f"unknown cost provider {provider!r}; expected 'measured', 'analytic', 'table' or an object with .costs(descriptors)"
                    )
                if cost_table is None:
                    raise CostError("provider='table' needs cost_table={cost_key: ms}")
                table = dict(cost_table)
            elif callable(getattr(provider, "costs", None)):
                table = dict(provider.costs(self.measurement_descriptors()))
            else:
                raise CostError(
                    f"cost provider must be 'analytic', 'table' or have a .costs(descriptors) method, got {type(provider).__name__}"
                )
            result = self.engine.cost(device=(device or "h100") if fallback_to_analytic else None, cost_table=table)
        records = tuple(
            OpCostRecord(
                name=op["name"],
                op_type=op["type"],
                cost_key=op["cost_key"],
                runtime_ms=op["runtime_ms"],
                flops=op["flops"],
                mem_access_bytes=op["mem_access_bytes"],
                kernel_launches=op["kernel_launches"],
            )
            for op in result["ops"]
        )
        return GraphCost(
            runtime_ms=result["runtime_ms"],
            flops=result["flops"],
            mem_access_bytes=result["mem_access_bytes"],
            kernel_launches=result["kernel_launches"],
            ops=records,
        )

    def __repr__(self) -> str:
        return f"XflowGraph(source={self.source!r}, num_ops={self.num_ops}, opaque={len(self.opaque_ops)})"
