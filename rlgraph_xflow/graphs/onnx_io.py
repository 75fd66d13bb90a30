"""ONNX <-> engine graph: `load` a model into an XflowGraph, `export` one back.

Holds:
  load: ONNX file or ModelProto -> XflowGraph (engine graph + weight store).
  export: XflowGraph -> onnx.ModelProto that runs in onnxruntime.
  MIN_OPSET, MAX_OPSET: the default-domain opsets read natively; others are
    converted with onnx.version_converter first (TARGET_OPSET).

Loading, step by step: read the file (refusing external-data locations that
escape the model's folder, checked before any data is read), convert the
opset if needed, bind symbolic input dimensions (dimension 0 to batch_size
unless named in symbolic_dims; any other symbolic dimension must be named in
symbolic_dims), run ONNX shape inference (for opaque ops' output types), then
add graph inputs, initializers and nodes to the engine. Nodes of a modelled
type become engine ops with their attributes as parameters; anything else
(other domains, unmodelled types, attribute kinds the engine does not hold,
shape inputs computed at run time) becomes an Opaque op that keeps its ONNX
node and round-trips unchanged. Unnamed or clashing node names get stable
generated names ("<OpType>_<node index>", then "_1", "_2", ... suffixes).
"""
from __future__ import annotations

import heapq
import os
from typing import Mapping

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from rlgraph_xflow.core.validation import is_instance_not_bool, is_int
from rlgraph_xflow.graphs.errors import GraphError, OnnxExportError, OnnxLoadError
from rlgraph_xflow.graphs.xflow_graph import XflowGraph
from rlgraph_xflow.ops import MAX_INT_VALUES, Graph, constant_int_inputs, dtype_name, onnx_dtype_code, supported_op_types

__all__ = ["MAX_OPSET", "MIN_OPSET", "TARGET_OPSET", "export", "load"]

MIN_OPSET = 13
MAX_OPSET = 21
TARGET_OPSET = 17
_DEFAULT_DOMAINS = ("", "ai.onnx")
_SIMPLE_ATTRIBUTES = (AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING, AttributeProto.INTS, AttributeProto.FLOATS)
# Integer dtypes whose small constant values the engine may read.
_INT_VALUE_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


def _dtype_name(code: int, where: str) -> str:
    try:
        return dtype_name(code)
    except GraphError as error:
        raise OnnxLoadError(f"{where}: {error}") from None


# ---------------------------------------------------------------- reading


def _check_external_locations(model: onnx.ModelProto, base_dir: str, label: str) -> bool:
    """Refuses external-data locations outside base_dir; returns whether any tensor is external."""
    root = os.path.realpath(base_dir)
    has_external = False
    for tensor in onnx.external_data_helper._get_all_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        has_external = True
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        if not location:
            raise OnnxLoadError(f"{label}: tensor '{tensor.name}' is stored externally but has no 'location'")
        if os.path.isabs(location) or os.path.splitdrive(location)[0]:
            raise OnnxLoadError(
                f"{label}: tensor '{tensor.name}' has the absolute external-data location {location!r}; "
                f"only paths inside the model's folder {base_dir!r} are allowed"
            )
        resolved = os.path.realpath(os.path.join(root, location))
        if os.path.commonpath([root, resolved]) != root:
            raise OnnxLoadError(
                f"{label}: tensor '{tensor.name}' has the external-data location {location!r}, which escapes "
                f"the model's folder {base_dir!r}; refused"
            )
    return has_external


def _read_model(source: str | os.PathLike | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """The ModelProto (external data loaded) and a label naming its source."""
    if isinstance(source, onnx.ModelProto):
        # Read only: later steps copy what they change.
        model = source
        label = "<ModelProto>"
        if _check_external_locations(model, os.getcwd(), label):
            raise OnnxLoadError(
                f"{label}: the model references external data; load it from its file path so the data can be found"
            )
    elif isinstance(source, (str, os.PathLike)):
        label = os.fspath(source)
        if not os.path.exists(label):
            raise OnnxLoadError(f"{label}: file not found")
        if not os.path.isfile(label):
            raise OnnxLoadError(f"{label}: expected an ONNX model file, found a directory or special file")
        try:
            model = onnx.load(label, load_external_data=False)
        except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as error:
            raise OnnxLoadError(f"{label}: not a valid ONNX model (truncated or not an ONNX protobuf): {error}") from None
        base_dir = os.path.dirname(os.path.abspath(label))
        if _check_external_locations(model, base_dir, label):
            try:
                onnx.external_data_helper.load_external_data_for_model(model, base_dir)
            except (OSError, ValueError) as error:
                raise OnnxLoadError(f"{label}: cannot read external data: {error}") from None
    else:
        raise OnnxLoadError(f"expected a path or an onnx.ModelProto, got {type(source).__name__}")
    if model.ir_version <= 0 or not model.opset_import or not model.graph.output:
        raise OnnxLoadError(
            f"{label}: not an ONNX model (found ir_version={model.ir_version}, {len(model.opset_import)} opset imports, "
            f"{len(model.graph.output)} graph outputs; a model needs all three)"
        )
    return model, label


def _default_opset(model: onnx.ModelProto) -> int:
    versions = [entry.version for entry in model.opset_import if entry.domain in _DEFAULT_DOMAINS]
    return versions[0] if versions else 0


def _convert_opset(model: onnx.ModelProto, label: str) -> onnx.ModelProto:
    version = _default_opset(model)
    if MIN_OPSET <= version <= MAX_OPSET:
        return model
    target = TARGET_OPSET if version < MIN_OPSET else MAX_OPSET
    try:
        converted = onnx.version_converter.convert_version(model, target)
    except Exception as error:  # the converter raises bare RuntimeErrors and C++ errors
        raise OnnxLoadError(
            f"{label}: default-domain opset {version} is outside the supported {MIN_OPSET}..{MAX_OPSET} and "
            f"converting it to opset {target} failed: {error}"
        ) from None
    return converted


# ---------------------------------------------------------------- shapes


def _skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """model without the payload of large initializers: they become typed graph inputs.

    Shape inference needs only their types; copying hundreds of megabytes of
    weights through it (as bert_base has) would dominate load time. Small
    initializers keep their data so inference can propagate shape values.
    """
    skeleton = onnx.ModelProto()
    skeleton.ir_version = model.ir_version
    skeleton.opset_import.extend(model.opset_import)
    graph = skeleton.graph
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    declared = {value.name for value in model.graph.input}
    for tensor in model.graph.initializer:
        elements = int(np.prod(tensor.dims)) if len(tensor.dims) else 1
        if elements <= MAX_INT_VALUES:
            graph.initializer.append(tensor)
        elif tensor.name not in declared:
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return skeleton


def _bind_dimensions(
    skeleton: onnx.ModelProto, initializer_names: set[str], batch_size: int, symbolic_dims: Mapping[str, int], label: str
) -> None:
    """Fixes every dimension of the skeleton's graph inputs in place."""
    if not is_int(batch_size) or batch_size < 1:
        raise OnnxLoadError(f"{label}: batch_size must be an int >= 1, got {batch_size!r}")
    for name, value in symbolic_dims.items():
        if not is_int(value) or value < 1:
            raise OnnxLoadError(f"{label}: symbolic_dims[{name!r}] must be an int >= 1, got {value!r}")
    for graph_input in skeleton.graph.input:
        if graph_input.name in initializer_names:
            continue
        if not graph_input.type.HasField("tensor_type"):
            raise OnnxLoadError(f"{label}: graph input '{graph_input.name}' is not a tensor; only tensor inputs are supported")
        tensor_type = graph_input.type.tensor_type
        if not tensor_type.HasField("shape"):
            raise OnnxLoadError(f"{label}: graph input '{graph_input.name}' has no shape; give it a fixed-rank shape")
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            symbol = dim.dim_param if dim.HasField("dim_param") else ""
            if symbol and symbol in symbolic_dims:
                value = symbolic_dims[symbol]
            elif axis == 0:
                value = batch_size
            else:
                described = f"symbolic dimension {symbol!r}" if symbol else "an unknown dimension"
                raise OnnxLoadError(
                    f"{label}: graph input '{graph_input.name}' dimension {axis} is {described}; bind it with "
                    f"symbolic_dims={{{(symbol or 'name')!r}: value}}"
                    + ("" if symbol else " after naming it in the model")
                )
            dim.Clear()
            dim.dim_value = value
    # Declared output shapes may still be symbolic; inference redoes them.
    for graph_output in skeleton.graph.output:
        if graph_output.type.HasField("tensor_type"):
            graph_output.type.tensor_type.ClearField("shape")


def _inferred_types(model: onnx.ModelProto, label: str) -> dict[str, tuple[str, list[int] | None]]:
    """Tensor name -> (dtype, shape or None when unknown), from ONNX shape inference."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as error:  # InferenceError and the C++ layer's RuntimeErrors
        raise OnnxLoadError(f"{label}: ONNX shape inference failed: {error}") from None
    types = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        if not value.type.HasField("tensor_type") or value.type.tensor_type.elem_type == 0:
            continue
        tensor_type = value.type.tensor_type
        shape = None
        if tensor_type.HasField("shape"):
            dims = [dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor_type.shape.dim]
            shape = None if any(dim < 0 for dim in dims) else dims
        types[value.name] = (_dtype_name(tensor_type.elem_type, f"{label}: tensor '{value.name}'"), shape)
    return types


# ---------------------------------------------------------------- building


def _topological_nodes(graph: onnx.GraphProto, available: set[str], label: str) -> list[int]:
    """Node indices in a topological order (ONNX order when already sorted)."""
    producers = {}
    for index, node in enumerate(graph.node):
        for name in node.output:
            if name:
                producers[name] = index
    waiting = [0] * len(graph.node)
    consumers: dict[int, list[int]] = {}
    for index, node in enumerate(graph.node):
        for name in set(node.input):
            if name and name not in available and name in producers:
                waiting[index] += 1
                consumers.setdefault(producers[name], []).append(index)
    ready = [index for index in range(len(graph.node)) if waiting[index] == 0]
    order = []
    # Ascending index order: a model that is already sorted keeps its order.
    heapq.heapify(ready)
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for consumer in consumers.get(index, ()):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, consumer)
    if len(order) != len(graph.node):
        stuck = [graph.node[index].name or graph.node[index].op_type for index in range(len(graph.node)) if waiting[index] > 0]
        raise OnnxLoadError(f"{label}: the graph has a cycle through nodes {stuck[:5]}")
    return order


class _Builder:
    """Adds one ONNX graph's inputs, initializers and nodes to an engine graph."""

    def __init__(self, label: str, types: dict[str, tuple[str, list[int] | None]]) -> None:
        self.label = label
        self.types = types
        self.engine = Graph()
        self.weights: dict[str, np.ndarray] = {}
        self.edges: dict[str, tuple[int, int]] = {}
        self.used_names: set[str] = set()

    def unique_name(self, name: str) -> str:
        candidate, suffix = name, 0
        while candidate in self.used_names:
            suffix += 1
            candidate = f"{name}_{suffix}"
        self.used_names.add(candidate)
        return candidate

    def add_input(self, value: onnx.ValueInfoProto) -> None:
        tensor_type = value.type.tensor_type
        shape = [dim.dim_value for dim in tensor_type.shape.dim]
        dtype = _dtype_name(tensor_type.elem_type, f"{self.label}: graph input '{value.name}'")
        index = self.engine.add_input(self.unique_name(value.name), dtype, shape)
        self.edges[value.name] = (index, 0)

    def add_array(self, tensor_name: str, array: np.ndarray, as_constant: bool) -> None:
        name = self.unique_name(tensor_name)
        try:
            code = helper.np_dtype_to_tensor_dtype(array.dtype)
        except (KeyError, TypeError, ValueError):
            raise OnnxLoadError(f"{self.label}: tensor '{tensor_name}' has unsupported dtype {array.dtype}") from None
        dtype = _dtype_name(code, f"{self.label}: tensor '{tensor_name}'")
        int_values = None
        if dtype in _INT_VALUE_DTYPES and array.size <= MAX_INT_VALUES:
            int_values = [int(value) for value in array.reshape(-1)]
        add = self.engine.add_constant if as_constant else self.engine.add_weight
        index = add(name, dtype, list(array.shape), int_values)
        self.weights[name] = array
        self.edges[tensor_name] = (index, 0)

    def input_edges(self, node: onnx.NodeProto, where: str) -> list[tuple[int, int]]:
        names = list(node.input)
        while names and not names[-1]:
            names.pop()
        edges = []
        for name in names:
            if not name:
                edges.append((-1, 0))
            elif name in self.edges:
                edges.append(self.edges[name])
            else:
                raise OnnxLoadError(f"{where}: input '{name}' is produced by no node, initializer or graph input")
        return edges

    def output_names(self, node: onnx.NodeProto, node_name: str) -> list[str]:
        names = list(node.output)
        while names and not names[-1]:
            names.pop()
        # An omitted middle output still exists in the engine; give it a name.
        return [name or f"{node_name}:unused{index}" for index, name in enumerate(names)]

    def opaque_reason(self, node: onnx.NodeProto, supported: set[str], edges: list[tuple[int, int]]) -> str | None:
        """Why the node cannot be an engine op, or None when it can."""
        if node.domain not in _DEFAULT_DOMAINS:
            return f"domain {node.domain!r}"
        if node.op_type not in supported:
            return "unmodelled op type"
        for attribute in node.attribute:
            if attribute.type not in _SIMPLE_ATTRIBUTES:
                return f"attribute '{attribute.name}' of kind {AttributeProto.AttributeType.Name(attribute.type)}"
            if attribute.type == AttributeProto.STRING:
                try:
                    attribute.s.decode("utf-8")
                except UnicodeDecodeError:
                    return f"non-text string attribute '{attribute.name}'"
        if node.op_type == "BatchNormalization" and (len([n for n in node.output if n]) > 1):
            return "training-mode BatchNormalization"
        for input_index in constant_int_inputs(node.op_type):
            if input_index < len(edges) and edges[input_index][0] >= 0:
                producer = self.engine.op(edges[input_index][0])
                if "int_values" not in producer["params"]:
                    return f"shape input {input_index} is computed at run time"
        return None

    def add_node(self, node_index: int, node: onnx.NodeProto, supported: set[str]) -> None:
        node_name = self.unique_name(node.name or f"{node.op_type}_{node_index}")
        where = f"{self.label}: node '{node_name}' ({node.op_type})"
        edges = self.input_edges(node, where)
        if node.op_type == "Constant" and node.domain in _DEFAULT_DOMAINS and self.add_constant_node(node, where):
            self.used_names.discard(node_name)
            return
        outputs = self.output_names(node, node_name)
        if self.opaque_reason(node, supported, edges) is None:
            params = {attribute.name: self.attribute_value(attribute) for attribute in node.attribute}
            try:
                index = self.engine.add_op(node.op_type, node_name, edges, params, len(outputs), outputs)
            except GraphError as error:
                raise OnnxLoadError(f"{where}: {error}") from None
        else:
            index = self.add_opaque(node, node_name, edges, outputs, where)
        for output_index, name in enumerate(node.output):
            if name:
                self.edges[name] = (index, output_index)

    @staticmethod
    def attribute_value(attribute: AttributeProto):
        value = helper.get_attribute_value(attribute)
        if attribute.type == AttributeProto.STRING:
            return value.decode("utf-8")
        if attribute.type == AttributeProto.INTS:
            return [int(item) for item in value]
        if attribute.type == AttributeProto.FLOATS:
            return [float(item) for item in value]
        return value

    def add_constant_node(self, node: onnx.NodeProto, where: str) -> bool:
        """Adds a Constant node as an engine Constant; False when its value kind is not a dense tensor."""
        if len(node.attribute) != 1 or node.attribute[0].name == "sparse_value" or len(node.output) != 1:
            return False
        attribute = node.attribute[0]
        value = helper.get_attribute_value(attribute)
        if attribute.name == "value":
            array = numpy_helper.to_array(value)
        elif attribute.name in ("value_float", "value_floats"):
            array = np.asarray(value, dtype=np.float32)
        elif attribute.name in ("value_int", "value_ints"):
            array = np.asarray(value, dtype=np.int64)
        else:
            return False
        self.add_array(node.output[0], array, as_constant=True)
        return True

    def add_opaque(self, node: onnx.NodeProto, node_name: str, edges, outputs: list[str], where: str) -> int:
        output_types = []
        for name in outputs:
            dtype, shape = self.types.get(name, (None, None))
            if dtype is None or shape is None:
                raise OnnxLoadError(
                    f"{where}: the engine does not model this op and ONNX shape inference could not give the "
                    f"{'shape' if dtype else 'type'} of its output '{name}'; the engine needs static shapes"
                )
            output_types.append((dtype, shape))
        # Names and edges live in the engine; the stored node holds only what
        # defines the computation, so equal ops hash equal.
        stripped = onnx.NodeProto()
        stripped.op_type = node.op_type
        stripped.domain = node.domain
        stripped.attribute.extend(node.attribute)
        if node.doc_string:
            stripped.doc_string = node.doc_string
        try:
            return self.engine.add_opaque(
                node_name, node.op_type, node.domain, stripped.SerializeToString(), edges, output_types, outputs
            )
        except GraphError as error:
            raise OnnxLoadError(f"{where}: {error}") from None


def load(
    source: str | os.PathLike | onnx.ModelProto,
    batch_size: int = 1,
    symbolic_dims: Mapping[str, int] | None = None,
) -> XflowGraph:
    """Loads an ONNX model into the engine.

    Args:
        source: path of an .onnx file (external data must sit inside its
            folder) or an in-memory onnx.ModelProto.
        batch_size: value for a symbolic or unknown dimension 0 of a graph input.
        symbolic_dims: values for named symbolic dimensions, e.g. {"seq": 64}.

    Returns:
        The XflowGraph: engine graph, weight store and ONNX metadata.

    Raises:
        OnnxLoadError: missing or unreadable file, external data outside the
            model's folder, an opset that cannot be converted, an unbound
            symbolic dimension, or a node the engine rejects; the message
            names the file (and node).

    Example:
        >>> graph = load("resnet18.onnx", batch_size=8)
        >>> graph.cost(device="v100").runtime_ms
    """
    model, label = _read_model(source)
    model = _convert_opset(model, label)
    graph = model.graph
    initializer_names = {tensor.name for tensor in graph.initializer}
    skeleton = _skeleton(model)
    _bind_dimensions(skeleton, initializer_names, batch_size, dict(symbolic_dims or {}), label)
    builder = _Builder(label, _inferred_types(skeleton, label))
    for value in skeleton.graph.input:
        if value.name not in initializer_names:
            builder.add_input(value)
    for tensor in graph.initializer:
        try:
            array = numpy_helper.to_array(tensor)
        except Exception as error:  # malformed tensor payloads raise assorted errors
            raise OnnxLoadError(f"{label}: initializer '{tensor.name}' cannot be read: {error}") from None
        try:
            builder.add_array(tensor.name, array, as_constant=False)
        except GraphError as error:
            raise OnnxLoadError(f"{label}: initializer '{tensor.name}': {error}") from None
    supported = set(supported_op_types())
    for node_index in _topological_nodes(graph, set(builder.edges), label):
        builder.add_node(node_index, graph.node[node_index], supported)
    outputs = []
    for value in graph.output:
        if value.name not in builder.edges:
            raise OnnxLoadError(f"{label}: graph output '{value.name}' is produced by no node")
        op_index, output_index = builder.edges[value.name]
        outputs.append((op_index, output_index, value.name))
    builder.engine.set_outputs(outputs)
    opset_imports = [(entry.domain, entry.version) for entry in model.opset_import]
    return XflowGraph(builder.engine, builder.weights, opset_imports, model.ir_version, label)


# ---------------------------------------------------------------- writing


def _attribute(name: str, value, where: str) -> AttributeProto:
    if not is_instance_not_bool(value, (int, float, str, bytes, list)):
        raise OnnxExportError(f"{where}: parameter '{name}' has unsupported type {type(value).__name__}")
    if isinstance(value, list):
        kind = AttributeProto.FLOATS if any(isinstance(item, float) for item in value) else AttributeProto.INTS
        return helper.make_attribute(name, value, attr_type=kind)
    return helper.make_attribute(name, value)


def _generated_constant(op: dict, where: str) -> TensorProto:
    """The tensor of a Constant made by a rewrite, whose values are its parameters (ops/engine/graph.h)."""
    dtype, shape = op["output_types"][0]
    params = op["params"]
    if "int_values" in params:
        array = np.asarray(params["int_values"], dtype=np.int64)
    elif "float_values" in params:
        array = np.asarray(params["float_values"], dtype=np.float32)
    else:
        raise OnnxExportError(f"{where}: a generated constant carries neither 'int_values' nor 'float_values'")
    if dtype_name(helper.np_dtype_to_tensor_dtype(array.dtype)) != dtype or array.size != int(np.prod(shape)):
        raise OnnxExportError(f"{where}: generated values {array.dtype}[{array.size}] do not fit {dtype}{list(shape)}")
    return numpy_helper.from_array(array.reshape(shape), op["name"])


def _shield_from_pad_fusion(nodes: list, initializers: list, weight: str, rank: int, conv_name: str) -> str:
    """Puts a no-op Reshape between a Pad and the Conv weight it feeds.

    onnxruntime's PadFusion folds a Pad into the Conv it feeds without
    checking which input it feeds; on the weight input (kernels enlarged by
    padding) that produces an invalid model. A Reshape to the same shape
    (all dims 0 = "copy") is not fused, so the model stays valid; constant
    folding still removes it at session creation.
    """
    shape_name = f"{conv_name}::weight_shape"
    initializers.append(numpy_helper.from_array(np.zeros(rank, np.int64), shape_name))
    shielded = f"{weight}::shielded"
    nodes.append(helper.make_node("Reshape", [weight, shape_name], [shielded], name=f"{conv_name}::weight_reshape"))
    return shielded


def export(graph: XflowGraph) -> onnx.ModelProto:
    """Writes an XflowGraph back as an ONNX model.

    Graph input and output names are preserved, weights become initializers,
    Constant ops Constant nodes (a constant generated by a rewrite takes its
    values from its parameters), opaque ops their original ONNX nodes, and a
    Conv with the engine's fused activation="relu" a Conv node plus a Relu node.

    Args:
        graph: the graph to export.

    Returns:
        An onnx.ModelProto with the graph's opset imports and IR version.

    Raises:
        OnnxExportError: a weight's data is missing from graph.weights or
            disagrees with the engine's shape/dtype.
    """
    if not isinstance(graph, XflowGraph):
        raise OnnxExportError(f"export expects an XflowGraph, got {type(graph).__name__}")
    engine = graph.engine
    ops = engine.ops()

    def tensor_name(edge) -> str:
        op_index, output_index = edge
        return "" if op_index < 0 else ops[op_index]["output_names"][output_index]

    inputs, initializers, nodes = [], [], []
    for op in ops:
        kind, name = op["type"], op["name"]
        where = f"{graph.source}: op '{name}' ({kind})"
        if kind == "Input":
            dtype, shape = op["output_types"][0]
            inputs.append(helper.make_tensor_value_info(name, onnx_dtype_code(dtype), shape))
        elif kind == "Constant" and name not in graph.weights and op["params"].get("generated"):
            nodes.append(helper.make_node("Constant", [], [name], name=name, value=_generated_constant(op, where)))
        elif kind in ("Weight", "Constant"):
            if name not in graph.weights:
                raise OnnxExportError(f"{where}: no data in the weight store for this {kind.lower()}")
            array = np.asarray(graph.weights[name])
            dtype, shape = op["output_types"][0]
            if list(array.shape) != list(shape) or dtype_name(helper.np_dtype_to_tensor_dtype(array.dtype)) != dtype:
                raise OnnxExportError(
                    f"{where}: stored data is {array.dtype}{list(array.shape)} but the engine expects {dtype}{list(shape)}"
                )
            tensor = numpy_helper.from_array(array, name)
            if kind == "Weight":
                initializers.append(tensor)
            else:
                nodes.append(helper.make_node("Constant", [], [name], name=name, value=tensor))
        elif kind == "Opaque":
            node = onnx.NodeProto.FromString(engine.opaque_node_proto(op["index"]))
            node.name = name
            node.input.extend(tensor_name(edge) for edge in op["inputs"])
            node.output.extend(op["output_names"])
            nodes.append(node)
        else:
            params = dict(op["params"])
            activation = params.pop("activation", None) if kind == "Conv" else None
            outputs = list(op["output_names"])
            if activation is not None:
                # The engine's fused activation (ops/engine/ops_conv.cc): Conv then Relu.
                if activation != "relu":
                    raise OnnxExportError(f"{where}: unsupported fused activation {activation!r}; expected 'relu'")
                outputs = [f"{op['output_names'][0]}::before_activation"]
            inputs_of_node = [tensor_name(edge) for edge in op["inputs"]]
            if kind == "Conv" and len(op["inputs"]) > 1 and op["inputs"][1][0] >= 0 and ops[op["inputs"][1][0]]["type"] == "Pad":
                inputs_of_node[1] = _shield_from_pad_fusion(nodes, initializers, inputs_of_node[1],
                                                            len(ops[op["inputs"][1][0]]["output_types"][0][1]), name)
            node = helper.make_node(kind, inputs_of_node, outputs, name=name)
            node.attribute.extend(_attribute(key, value, where) for key, value in params.items())
            nodes.append(node)
            if activation is not None:
                nodes.append(helper.make_node("Relu", outputs, op["output_names"], name=f"{name}::activation"))
    outputs = []
    for op_index, output_index, name in engine.outputs:
        dtype, shape = ops[op_index]["output_types"][output_index]
        produced = ops[op_index]["output_names"][output_index]
        if produced != name:
            nodes.append(helper.make_node("Identity", [produced], [name], name=f"{name}_output_identity"))
        outputs.append(helper.make_tensor_value_info(name, onnx_dtype_code(dtype), shape))
    onnx_graph = helper.make_graph(nodes, "rlgraph_xflow", inputs, outputs, initializer=initializers)
    opset_imports = [helper.make_opsetid(domain, version) for domain, version in graph.opset_imports]
    model = helper.make_model(onnx_graph, opset_imports=opset_imports, producer_name="rlgraph_xflow")
    model.ir_version = graph.ir_version
    return model
