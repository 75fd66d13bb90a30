"""TensorFlow as a runtime for ONNX graphs, through onnx-tf.

Holds:
  to_tensorflow(model) -> TensorflowRunner: converts a model (a ModelProto or
    an .onnx path) with onnx-tf and traces it once as a tf.function.
  TensorflowRunner: the callable: feeds {input name: numpy array} -> the
    outputs as numpy arrays in the graph's output order, like onnxruntime's
    `session.run(None, feeds)`.
  hardmax: ONNX Hardmax over the last axis, the one function of
    tensorflow_addons (`seq2seq.hardmax`) that onnx-tf calls.

What this module adds to onnx-tf 1.10 (under TF 2.21 and Keras 3), and why:
  * onnx-tf imports tensorflow_addons, which cannot import on TF >= 2.16, and
    uses only its `seq2seq.hardmax`. Unless a tensorflow_addons is already
    imported, a module of that name holding only `seq2seq.hardmax` (this
    file's `hardmax`) is registered in sys.modules before onnx-tf is imported.
  * TensorFlow takes an ONNX node's name as a scope name and refuses
    characters such as ':' (the engine names the Relu it splits off a fused
    Conv '<conv>::activation'); and tf.function passes graph inputs as keyword
    arguments, renaming those that are not Python identifiers, so onnx-tf
    no longer finds 'input.1' (or 'a::b') under its name. Names are
    replaced on the copy handed to onnx-tf, not in the engine's export: the
    exported names say which rewrite made a node and onnxruntime accepts
    them, and the restriction is TensorFlow's, met here for every model,
    exported by the engine or not. Feeds and error messages keep the
    model's own names.
  * Handlers onnx-tf lacks for ops the engine models: LayerNormalization
    (opset 17), Squeeze and Unsqueeze 13 (axes as an input, not an
    attribute) and LeakyRelu 16 (only bfloat16 added). They are added to the
    handler table of this module's backend only (a subclass of onnx-tf's
    TensorflowBackend), so onnx-tf's own behaviour elsewhere in the process
    is unchanged.
  * onnx-tf turns every weight into a Python list before making a tf.constant
    of it (about 32 bytes an element: gigabytes for bert_base); the backend
    here makes the constants from numpy arrays.
  * onnx-tf traces with autograph, which rewrites the source of every handler
    it reaches first (7 s of CPU for squeezenet1_1, 0.5 s without). The graph
    is traced without autograph, and with onnx-tf's own function only when
    that fails (a handler branching on a tensor's value, as Trilu's does).
Nodes onnx-tf has no handler for are all named in one OnnxLoadError before
anything is traced; a node that fails to convert is named too. Above opset
17, ops changed since (ReduceMean 18, Reshape 19, ...) have no handler
version and are named the same way. onnx's version converter is not used to
take such models down: from 18 to 17 (onnx 1.18) it empties ReduceMean's
axes when they are stored as raw data, which silently reduces over every axis.

TensorFlow and onnx-tf are imported by the first `to_tensorflow` call, not
by importing this module.

Example:
    >>> runner = to_tensorflow(zoo.build("squeezenet1_1", image_size=64))
    >>> [logits] = runner({"input": np.zeros((1, 3, 64, 64), np.float32)})
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.machinery
import keyword
import os
import re
import sys
import types
from typing import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rlgraph_xflow.graphs.errors import OnnxLoadError
# The same reading rules as `load`: external data only from inside the model's folder.
from rlgraph_xflow.graphs.onnx_io import _read_model
from rlgraph_xflow.tf_runtime import load_tensorflow

__all__ = ["TensorflowRunner", "hardmax", "to_tensorflow"]

# TensorFlow's scope names allow [A-Za-z0-9_.\\/>-]; '/' and '>' have meanings there, so only these are kept.
_SCOPE_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_.\-]")
# tf.function binds the graph inputs as keyword arguments of BackendTFModule.__call__(self, **kwargs).
_RESERVED_ARGUMENT_NAMES = {"self"}


def hardmax(logits, name: str | None = None):
    """One-hot of the largest entry along the last axis (the first one where several tie), as ONNX Hardmax.

    The signature of tensorflow_addons.seq2seq.hardmax, which onnx-tf calls
    (it moves the ONNX axis last first).

    Args:
        logits: a float tensor.
        name: a name scope for the ops.

    Returns:
        A tensor of logits' shape and dtype holding 1 at the first maximum of
        each row and 0 elsewhere.
    """
    tf = load_tensorflow()
    with tf.name_scope(name or "Hardmax"):
        logits = tf.convert_to_tensor(logits, name="logits")
        depth = tf.shape(logits)[-1]
        is_maximum = tf.equal(logits, tf.reduce_max(logits, axis=-1, keepdims=True))
        # tf.argmax does not promise which of several equal entries it returns; ONNX asks for the first.
        positions = tf.broadcast_to(tf.range(depth), tf.shape(logits))
        first_maximum = tf.reduce_min(tf.where(is_maximum, positions, depth), axis=-1)
        return tf.one_hot(first_maximum, depth, dtype=logits.dtype)


def _register_tensorflow_addons_stand_in() -> None:
    """Registers a tensorflow_addons holding only seq2seq.hardmax, unless one is already imported."""
    if "tensorflow_addons" in sys.modules:
        return
    stand_in = types.ModuleType(
        "tensorflow_addons",
        "rlgraph_xflow's stand-in for tensorflow_addons (which cannot import on TF >= 2.16): only "
        "seq2seq.hardmax, the one function onnx-tf uses.",
    )
    seq2seq = types.ModuleType("tensorflow_addons.seq2seq", "Holds hardmax only (rlgraph_xflow's stand-in).")
    seq2seq.hardmax = hardmax

    def missing(attribute: str):
        raise AttributeError(
            f"tensorflow_addons here is rlgraph_xflow's stand-in for onnx-tf, holding only seq2seq.hardmax; "
            f"it has no '{attribute}'"
        )

    stand_in.__getattr__ = missing
    seq2seq.__getattr__ = missing
    stand_in.seq2seq = seq2seq
    # A spec as an imported module has one, so importlib.util.find_spec("tensorflow_addons") answers rather than raises.
    stand_in.__spec__ = importlib.machinery.ModuleSpec("tensorflow_addons", None, is_package=True)
    seq2seq.__spec__ = importlib.machinery.ModuleSpec("tensorflow_addons.seq2seq", None)
    sys.modules["tensorflow_addons"] = stand_in
    sys.modules["tensorflow_addons.seq2seq"] = seq2seq


def _constant_axes(tensor_dict, node, input_index: int) -> list[int] | None:
    """The values of a node's axes input (None when the input is absent); they must be known when tracing.

    Handlers' errors do not name the node: the backend in to_tensorflow does.
    """
    if len(node.inputs) <= input_index or not node.inputs[input_index]:
        return None
    tf = load_tensorflow()
    name = node.inputs[input_index]
    value = tf.get_static_value(tensor_dict[name])
    if value is None:
        raise ValueError(f"its axes input '{name}' is computed at run time; this converter needs it constant")
    return [int(axis) for axis in np.reshape(value, [-1])]


def _static_rank(tensor, node) -> int:
    rank = tensor.shape.rank
    if rank is None:
        raise ValueError(f"the rank of input '{node.inputs[0]}' is unknown")
    return rank


@functools.lru_cache(maxsize=None)
def _backend():
    """onnx-tf's TensorflowBackend with the handlers it lacks and numpy-made weight constants (built once)."""
    tf = load_tensorflow()
    _register_tensorflow_addons_stand_in()
    from onnx_tf.backend import TensorflowBackend
    from onnx_tf.handlers.backend.leaky_relu import Identity as OnnxTfLeakyRelu  # onnx-tf's class name
    from onnx_tf.handlers.backend.squeeze import Squeeze as OnnxTfSqueeze
    from onnx_tf.handlers.backend.unsqueeze import Unsqueeze as OnnxTfUnsqueeze
    from onnx_tf.handlers.backend_handler import BackendHandler
    from onnx_tf.handlers.handler import onnx_op

    # onnx-tf's registry takes every direct BackendHandler subclass, so this one is also in its global
    # table; onnx-tf has no LayerNormalization, so nothing there changes but the op's existence.
    @onnx_op("LayerNormalization")
    class LayerNormalization(BackendHandler):
        """Y = (X - mean) / sqrt(variance + epsilon) * Scale + B over axes axis..rank-1, with Mean and InvStdDev."""

        @classmethod
        def version_17(cls, node, **kwargs):
            tensors = kwargs["tensor_dict"]
            data = tensors[node.inputs[0]]
            scale = tensors[node.inputs[1]]
            bias = tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
            rank = _static_rank(data, node)
            axis = node.attrs.get("axis", -1)
            axis = axis + rank if axis < 0 else axis
            if not 0 <= axis < rank:
                raise ValueError(f"axis {node.attrs.get('axis')} is out of range for rank {rank}")
            stash_type = node.attrs.get("stash_type", 1)
            if stash_type != onnx.TensorProto.FLOAT:
                raise ValueError(f"stash_type {stash_type} is not supported (only 1, float)")
            # stash_type 1: the statistics, and so the normalization, are computed in float32.
            axes = list(range(axis, rank))
            values = tf.cast(data, tf.float32)
            mean = tf.reduce_mean(values, axis=axes, keepdims=True)
            centred = values - mean
            inverse_deviation = tf.math.rsqrt(
                tf.reduce_mean(tf.square(centred), axis=axes, keepdims=True) + node.attrs.get("epsilon", 1e-5))
            normalized = centred * inverse_deviation * tf.cast(scale, tf.float32)
            if bias is not None:
                normalized += tf.cast(bias, tf.float32)
            outputs = [tf.cast(normalized, data.dtype), mean, inverse_deviation]
            return outputs[:len(node.outputs)]

    # Subclasses of onnx-tf's handlers are not direct BackendHandler subclasses, so onnx-tf's registry never
    # sees them: only this backend's table uses them, and older versions run onnx-tf's own code.
    class Unsqueeze(OnnxTfUnsqueeze):
        @classmethod
        def version_13(cls, node, **kwargs):
            data = kwargs["tensor_dict"][node.inputs[0]]
            axes = _constant_axes(kwargs["tensor_dict"], node, 1)
            if axes is None:
                raise ValueError("no axes input")
            output_rank = _static_rank(data, node) + len(axes)
            for axis in sorted(axis + output_rank if axis < 0 else axis for axis in axes):
                data = tf.expand_dims(data, axis)
            return [data]

    class Squeeze(OnnxTfSqueeze):
        @classmethod
        def version_13(cls, node, **kwargs):
            data = kwargs["tensor_dict"][node.inputs[0]]
            axes = _constant_axes(kwargs["tensor_dict"], node, 1)
            if axes is None:
                return [tf.squeeze(data)]
            rank = _static_rank(data, node)
            return [tf.squeeze(data, axis=[axis + rank if axis < 0 else axis for axis in axes])]

    class LeakyRelu(OnnxTfLeakyRelu):
        @classmethod
        def version_16(cls, node, **kwargs):
            return cls.version_6(node, **kwargs)

    added_handlers = (LayerNormalization, Unsqueeze, Squeeze, LeakyRelu)

    class Backend(TensorflowBackend):
        @classmethod
        def _get_handlers(cls, opset):
            handlers = super()._get_handlers(opset)
            versions = {entry.domain: entry.version for entry in opset} if opset else {"": onnx.defs.onnx_opset_version()}
            for handler in added_handlers:
                # What onnx-tf's get_all_backend_handlers does for its own handlers.
                handler.VERSION = versions.get(handler.DOMAIN, 1)
                try:
                    handler.SINCE_VERSION = onnx.defs.get_schema(handler.ONNX_OP, handler.VERSION, handler.DOMAIN).since_version
                except onnx.defs.SchemaError:
                    handler.SINCE_VERSION = 1
                handlers.setdefault(handler.DOMAIN, {})[handler.ONNX_OP] = handler
            return handlers

        @classmethod
        def _onnx_initializer_to_input_dict_items(cls, initializer, training_mode=False):
            if training_mode:
                return super()._onnx_initializer_to_input_dict_items(initializer, training_mode=True)
            return [(tensor.name, tf.constant(numpy_helper.to_array(tensor))) for tensor in initializer]

    return Backend


# ---------------------------------------------------------------- the copy onnx-tf gets


def _subgraphs(graph: onnx.GraphProto):
    """The graphs held in node attributes (If, Loop, Scan bodies), recursively."""
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield attribute.g
                yield from _subgraphs(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield subgraph
                    yield from _subgraphs(subgraph)


def _all_graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    return [graph, *_subgraphs(graph)]


def _unique(candidate: str, taken: set[str]) -> str:
    name, suffix = candidate, 1
    while name in taken:
        name, suffix = f"{candidate}_{suffix}", suffix + 1
    taken.add(name)
    return name


def _rename_nodes(model: onnx.ModelProto) -> dict[str, str]:
    """Gives every named node a unique name TensorFlow accepts as a scope; returns new name -> original."""
    originals: dict[str, str] = {}
    taken: set[str] = set()
    for graph in _all_graphs(model.graph):
        for node in graph.node:
            if not node.name:
                continue
            sanitized = _SCOPE_NAME_CHARACTER.sub("_", node.name)
            if not sanitized[0].isalnum():
                sanitized = "node" + sanitized
            new_name = _unique(sanitized, taken)
            originals[new_name] = node.name
            node.name = new_name
    return originals


def _is_argument_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and name not in _RESERVED_ARGUMENT_NAMES


def _rename_inputs(model: onnx.ModelProto, input_names: list[str]) -> dict[str, str]:
    """Renames the graph inputs that cannot be keyword arguments, everywhere they are used; returns old -> new name."""
    wanted = [name for name in input_names if not _is_argument_name(name)]
    if not wanted:
        return {}
    taken = set()
    for graph in _all_graphs(model.graph):
        taken.update(value.name for value in (*graph.input, *graph.output, *graph.value_info))
        taken.update(tensor.name for tensor in graph.initializer)
        taken.update(name for node in graph.node for name in (*node.input, *node.output))
    renamed = {}
    for name in wanted:
        candidate = re.sub(r"\W", "_", name)
        if not _is_argument_name(candidate):
            candidate = "input_" + candidate
        renamed[name] = _unique(candidate, taken)
    for graph in _all_graphs(model.graph):
        for value in (*graph.input, *graph.output, *graph.value_info):
            value.name = renamed.get(value.name, value.name)
        for node in graph.node:
            for position, name in enumerate(node.input):
                node.input[position] = renamed.get(name, name)
    return renamed


def _unconvertible_nodes(model: onnx.ModelProto, handlers, original_names: Mapping[str, str]) -> list[str]:
    """One line per node onnx-tf has no handler (or no handler version) for, naming the node."""
    problems = []
    for graph in _all_graphs(model.graph):
        for node in graph.node:
            domain = "" if node.domain == "ai.onnx" else node.domain
            handler = handlers.get(domain, {}).get(node.op_type)
            where = f"node '{original_names.get(node.name, node.name)}' ({node.op_type}"
            where += f", domain {node.domain})" if domain else ")"
            if handler is None:
                problems.append(f"{where}: onnx-tf has no handler for this op")
            elif not hasattr(handler, f"version_{handler.SINCE_VERSION}"):
                versions = sorted(handler.get_versions())
                problems.append(f"{where}: the model's opset needs version {handler.SINCE_VERSION} of the op, onnx-tf "
                                f"implements versions {versions}")
    return problems


# ---------------------------------------------------------------- the runner


@dataclasses.dataclass(frozen=True)
class _FedInput:
    """A graph input: its name in the model, its name in onnx-tf's copy, its dtype and dimensions.

    dimensions: each size, None where symbolic or unknown; None altogether
    where the model gives no shape.
    """

    name: str
    argument_name: str
    dtype: np.dtype
    dimensions: list[int | None] | None

    def checked(self, value, source: str) -> np.ndarray:
        array = np.asarray(value)
        if array.dtype != self.dtype:
            raise ValueError(f"{source}: input '{self.name}' has dtype {array.dtype}, the model takes {self.dtype}")
        if self.dimensions is not None and (array.ndim != len(self.dimensions) or any(
                size is not None and size != found for size, found in zip(self.dimensions, array.shape))):
            shape = ["?" if size is None else size for size in self.dimensions]
            raise ValueError(f"{source}: input '{self.name}' has shape {list(array.shape)}, the model takes {shape}")
        return array


def _fed_inputs(model: onnx.ModelProto, source: str) -> list[_FedInput]:
    """The graph inputs a caller feeds (before IR version 4 initializers were listed as inputs too; they are not)."""
    initializer_names = {tensor.name for tensor in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in initializer_names:
            continue
        if not value.type.HasField("tensor_type"):
            raise OnnxLoadError(f"{source}: graph input '{value.name}' is not a tensor; only tensor inputs can be fed")
        tensor_type = value.type.tensor_type
        dimensions = None
        if tensor_type.HasField("shape"):
            dimensions = [dimension.dim_value if dimension.HasField("dim_value") else None for dimension in tensor_type.shape.dim]
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
        inputs.append(_FedInput(value.name, value.name, dtype, dimensions))
    return inputs


class TensorflowRunner:
    """An ONNX model converted by onnx-tf and traced as one tf.function; call it with numpy feeds.

    Attributes:
        source: what the model came from (its path, or "<ModelProto>").
        input_names: the graph inputs to feed, in the model's order.
        output_names: the outputs returned, in the model's order.
        function: the traced function (a tf ConcreteFunction taking the
            inputs as keyword tensors, named as in onnx-tf's copy of the
            model, and returning {output name in the copy: tensor}).
    """

    def __init__(self, source: str, inputs: list[_FedInput], output_names: list[str], output_keys: list[str], function) -> None:
        self.source = source
        self.input_names = [fed.name for fed in inputs]
        self.output_names = list(output_names)
        self.function = function
        self._inputs = inputs
        self._output_keys = list(output_keys)

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Runs the model.

        Args:
            feeds: input name -> array, for every graph input.

        Returns:
            The outputs as numpy arrays, in the graph's output order.

        Raises:
            TypeError: feeds is not a mapping.
            ValueError: a missing or unknown input name, or an array whose
                dtype or shape the model does not take.
        """
        if not isinstance(feeds, Mapping):
            raise TypeError(f"{self.source}: feeds must be a mapping of input name -> array, found {type(feeds).__name__}")
        missing = [name for name in self.input_names if name not in feeds]
        unknown = sorted(str(name) for name in feeds if name not in self.input_names)
        if missing or unknown:
            raise ValueError(f"{self.source}: the model's inputs are {self.input_names}; the feeds lack {missing} "
                             f"and have unknown {unknown}")
        tf = load_tensorflow()
        arguments = {fed.argument_name: tf.convert_to_tensor(fed.checked(feeds[fed.name], self.source)) for fed in self._inputs}
        outputs = self.function(**arguments)
        return [outputs[key].numpy() for key in self._output_keys]


def to_tensorflow(model: onnx.ModelProto | str | os.PathLike) -> TensorflowRunner:
    """Converts an ONNX model to TensorFlow with onnx-tf; returns a runner taking and giving numpy arrays.

    The model is converted and traced here, so a graph onnx-tf cannot run
    fails now, not at the first call. The model itself is not changed.

    Args:
        model: an onnx.ModelProto, or a path to an .onnx file (external
            weights are read from inside its folder).

    Returns:
        TensorflowRunner: `runner(feeds)` -> list of numpy arrays, in the
        graph's output order (as onnxruntime's `session.run(None, feeds)`).

    Raises:
        OnnxLoadError (a ValueError): model is neither a ModelProto nor a
            path, the file is missing or not an ONNX model, a graph input is
            not a tensor, nodes have ops (or op versions) onnx-tf cannot
            convert (all are named), or converting a node failed (the node
            is named).
    """
    proto, source = _read_model(model)
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    output_names = [value.name for value in copy.graph.output]
    original_node_names = _rename_nodes(copy)
    inputs = _fed_inputs(copy, source)
    argument_names = _rename_inputs(copy, [fed.name for fed in inputs])
    inputs = [dataclasses.replace(fed, argument_name=argument_names.get(fed.name, fed.name)) for fed in inputs]
    output_keys = [value.name for value in copy.graph.output]

    tf = load_tensorflow()
    backend = _backend()
    problems = _unconvertible_nodes(copy, backend._get_handlers(copy.opset_import), original_node_names)
    if problems:
        raise OnnxLoadError(f"{source}: onnx-tf cannot convert {len(problems)} node(s):\n  " + "\n  ".join(problems))

    failed_nodes = []

    class NodeRecordingBackend(backend):
        # An error raised while tracing comes back wrapped in TensorFlow's trace; the failing node is kept here.
        @classmethod
        def _onnx_node_to_tensorflow_op(cls, node, tensor_dict, handlers=None, opset=None, strict=True):
            try:
                return super()._onnx_node_to_tensorflow_op(node, tensor_dict, handlers, opset=opset, strict=strict)
            except Exception as error:
                failed_nodes.append((node, error))
                raise

    specs = {fed.argument_name: tf.TensorSpec(fed.dimensions, tf.as_dtype(fed.dtype), name=fed.argument_name) for fed in inputs}
    try:
        module = NodeRecordingBackend.prepare(copy, device="CPU", strict=True, logging_level="WARNING").tf_module
        # onnx-tf's module.__call__ is a tf.function with autograph, which rewrites the Python source of
        # every handler it reaches before tracing (7 s of CPU for squeezenet's dozen op types). Handlers
        # are plain Python that builds TF ops, except a few that branch on tensor values (Trilu on its k
        # input) and need autograph; so trace without it first, and with onnx-tf's own function if that fails.
        call = type(module).__call__.python_function
        try:
            function = tf.function(lambda **arguments: call(module, **arguments), autograph=False).get_concrete_function(**specs)
        except Exception:
            failed_nodes.clear()
            function = module.__call__.get_concrete_function(**specs)
    except Exception as error:
        if failed_nodes:
            node, node_error = failed_nodes[0]
            node_name = original_node_names.get(node.name, node.name)
            raise OnnxLoadError(f"{source}: onnx-tf failed to convert node '{node_name}' ({node.op_type}): "
                                f"{type(node_error).__name__}: {node_error}") from node_error
        raise OnnxLoadError(f"{source}: onnx-tf failed to convert the model: {type(error).__name__}: {error}") from error
    return TensorflowRunner(source, inputs, output_names, output_keys, function)
