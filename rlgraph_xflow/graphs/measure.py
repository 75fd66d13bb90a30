"""Op descriptors, one-op models and their timing in onnxruntime.

The measured cost model (kernel_costs.py) builds its kernel models from these
descriptors; a single op timed alone by wall time is not how the runtime
costs it (the call and thread wake-up are added to every op), so no cost
model prices graphs with measure_op any more.

Holds:
  single_op_model, checked_model: the one-node model of a descriptor, and
    the shape-inferred, checked model of a graph.
  measure_op: builds a one-node ONNX model from an op descriptor and returns
    its median wall time in milliseconds.
  default_device_name: names this machine's CPU and runtime, the cache's device key.
  CostCache, CostCacheError, default_cache_path: re-exported from cost_cache.py.

An op descriptor (the engine hands Python a list of them) is a dict:
    cost_key: str                 the engine's key for this op configuration
    op_type: str                  ONNX op type, e.g. "Conv"
    attributes: dict              ONNX attribute name -> int | float | str | list[int] | list[float]
    input_shapes: list[list[int]]
    input_dtypes: list[str]       "float32", "int64", ...
    input_is_weight: list[bool]   weights become random initializers, the rest graph inputs
    constant_int_inputs: dict     input index -> list[int], for shape-like inputs
                                  (Reshape shape, Split sizes, Slice starts/ends/axes/steps,
                                  Squeeze/Unsqueeze/ReduceMean axes, Pad pads)
    num_outputs: int

Sessions use CPUExecutionProvider with ORT_ENABLE_ALL, like verification, so a
measured op runs with the kernels (and layout choices) the verified model gets.
A consequence worth knowing: an op whose inputs are all weights or constants
is folded away at session creation, and its measured cost is only the call
overhead, which is what it costs at inference too.
"""
from __future__ import annotations

import platform
from typing import Any, Mapping

import numpy as np
import onnx
from onnx import AttributeProto, helper

from rlgraph_xflow.core.validation import is_int, is_number
from rlgraph_xflow.graphs.cost_cache import CostCache, CostCacheError, default_cache_path
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session, import_onnxruntime, median_latency_ms
from rlgraph_xflow.graphs.zoo_builder import ONNX_IR_VERSION, ONNX_OPSET

__all__ = ["CostCache", "CostCacheError", "checked_model", "default_cache_path", "default_device_name", "measure_op", "single_op_model"]

_DTYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}
_REQUIRED_KEYS = ("cost_key", "op_type", "input_shapes", "input_dtypes", "input_is_weight", "num_outputs")


def _where(descriptor: Mapping[str, Any]) -> str:
    key = descriptor.get("cost_key") if isinstance(descriptor, Mapping) else None
    return f"op descriptor (cost_key {key!r})"


def _checked_descriptor(descriptor: Mapping[str, Any]) -> dict[str, Any]:
    """Validates a descriptor; returns it with constant_int_inputs keyed by int and attributes defaulted."""
    if not isinstance(descriptor, Mapping):
        raise TypeError(f"op descriptor must be a dict, found {type(descriptor).__name__}")
    where = _where(descriptor)
    missing = [key for key in _REQUIRED_KEYS if key not in descriptor]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}; a descriptor needs {list(_REQUIRED_KEYS)}")
    if not isinstance(descriptor["cost_key"], str) or not descriptor["cost_key"]:
        raise ValueError(f"{where}: 'cost_key' must be a non-empty string")
    shapes, dtypes, weights = descriptor["input_shapes"], descriptor["input_dtypes"], descriptor["input_is_weight"]
    for label, value in (("input_shapes", shapes), ("input_dtypes", dtypes), ("input_is_weight", weights)):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: '{label}' must be a list, found {type(value).__name__}")
    if not len(shapes) == len(dtypes) == len(weights):
        raise ValueError(
            f"{where}: input_shapes, input_dtypes and input_is_weight must have one entry per input, "
            f"found {len(shapes)}, {len(dtypes)} and {len(weights)}"
        )
    for index, shape in enumerate(shapes):
        if not isinstance(shape, (list, tuple)) or not all(is_int(size, allow_numpy=True) and size >= 0 for size in shape):
            raise ValueError(f"{where}: input_shapes[{index}] must be a list of ints >= 0, found {shape!r}")
    for index, dtype in enumerate(dtypes):
        if dtype not in _DTYPES:
            raise ValueError(f"{where}: input_dtypes[{index}] is {dtype!r}; expected one of {sorted(_DTYPES)}")
    for index, is_weight in enumerate(weights):
        if not isinstance(is_weight, bool):
            raise ValueError(f"{where}: input_is_weight[{index}] must be a bool, found {is_weight!r}")
    if not is_int(descriptor["num_outputs"], allow_numpy=True) or descriptor["num_outputs"] < 1:
        raise ValueError(f"{where}: 'num_outputs' must be an int >= 1, found {descriptor['num_outputs']!r}")
    attributes = descriptor.get("attributes", {}) or {}
    if not isinstance(attributes, Mapping):
        raise ValueError(f"{where}: 'attributes' must be a dict, found {type(attributes).__name__}")
    constants: dict[int, list[int]] = {}
    for raw_index, values in (descriptor.get("constant_int_inputs", {}) or {}).items():
        try:
            # JSON turns the int keys into strings; accept both.
            index = int(raw_index)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: constant_int_inputs key {raw_index!r} is not an input index") from None
        if not 0 <= index < len(shapes):
            raise ValueError(f"{where}: constant_int_inputs[{index}] names input {index}, but the op has {len(shapes)} inputs")
        if not isinstance(values, (list, tuple)) or not all(is_int(value, allow_numpy=True) for value in values):
            raise ValueError(f"{where}: constant_int_inputs[{index}] must be a list of ints, found {values!r}")
        if int(np.prod(shapes[index])) != len(values):
            raise ValueError(
                f"{where}: constant_int_inputs[{index}] has {len(values)} values, "
                f"but input_shapes[{index}] is {list(shapes[index])}"
            )
        constants[index] = [int(value) for value in values]
    return {**descriptor, "attributes": dict(attributes), "constant_int_inputs": constants}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if is_int(value, allow_numpy=True):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if not is_number(value, allow_numpy=True):
        return None
    return float(value)


def _as_list(value: Any, convert) -> list | None:
    if not isinstance(value, (list, tuple)):
        return None
    converted = [convert(item) for item in value]
    return None if any(item is None for item in converted) else converted


def _attribute(op_type: str, schema: onnx.defs.OpSchema, name: str, value: Any, where: str) -> AttributeProto:
    """An AttributeProto of the type the op's schema declares (JSON may give 1 where 1.0 is meant)."""
    if name not in schema.attributes:
        raise ValueError(f"{where}: {op_type} has no attribute '{name}'; it has {sorted(schema.attributes)}")
    kinds = onnx.defs.OpSchema.AttrType
    converters = {
        kinds.INT: (AttributeProto.INT, _as_int),
        kinds.FLOAT: (AttributeProto.FLOAT, _as_float),
        kinds.STRING: (AttributeProto.STRING, lambda item: item if isinstance(item, str) else None),
        kinds.INTS: (AttributeProto.INTS, lambda items: _as_list(items, _as_int)),
        kinds.FLOATS: (AttributeProto.FLOATS, lambda items: _as_list(items, _as_float)),
    }
    declared = schema.attributes[name].type
    if declared not in converters:
        raise ValueError(f"{where}: attribute '{name}' of {op_type} has type {declared.name}, which descriptors cannot carry")
    attribute_type, convert = converters[declared]
    converted = convert(value)
    if converted is None:
        raise ValueError(f"{where}: attribute '{name}' of {op_type} must be {declared.name}, found {value!r}")
    return helper.make_attribute(name, converted, attr_type=attribute_type)


def _random_array(generator: np.random.Generator, shape: list[int], dtype: type, integer_high: int) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return generator.standard_normal(tuple(shape)).astype(dtype)
    if dtype == np.bool_:
        return generator.integers(0, 2, size=tuple(shape)).astype(np.bool_)
    return generator.integers(0, max(integer_high, 1), size=tuple(shape)).astype(dtype)


def _index_bound(descriptor: Mapping[str, Any], input_index: int) -> int:
    """Exclusive bound for a random integer input: the indexed size for Gather's indices."""
    if descriptor["op_type"] in ("Gather", "GatherElements") and input_index == 1:
        data_shape = descriptor["input_shapes"][0]
        axis = int(descriptor["attributes"].get("axis", 0))
        return data_shape[axis % len(data_shape)] if data_shape else 1
    # Other integer inputs in the supported vocabulary are shape-like and come
    # through constant_int_inputs; small values keep any that do not in range.
    return 2


def checked_model(graph: onnx.GraphProto, producer: str, rejection: str) -> onnx.ModelProto:
    """A model of graph at the project's opset, its output types inferred and checked.

    Raises:
        ValueError: `rejection`: ONNX's reason, when shape inference or the checker refuses it.
    """
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name=producer)
    model.ir_version = ONNX_IR_VERSION
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        onnx.checker.check_model(model)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as error:
        raise ValueError(f"{rejection}: {error}") from error
    return model


def single_op_model(descriptor: Mapping[str, Any], seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The one-node model `measure_op` times, and random feeds for its graph inputs.

    Args:
        descriptor: an op descriptor (see the module docstring).
        seed: seed for the random weights and inputs.

    Returns:
        (model, feeds): weights are random initializers, constant_int_inputs
        int initializers, the other inputs graph inputs named "input<i>".

    Raises:
        ValueError: a malformed descriptor, an unknown op type or attribute, or
            a node ONNX shape inference rejects (naming the cost key).
    """
    descriptor = _checked_descriptor(descriptor)
    where = _where(descriptor)
    op_type = descriptor["op_type"]
    try:
        schema = onnx.defs.get_schema(op_type, ONNX_OPSET)
    except onnx.defs.SchemaError:
        raise ValueError(f"{where}: '{op_type}' is not an ONNX op type at opset {ONNX_OPSET}") from None
    attributes = [_attribute(op_type, schema, name, value, where) for name, value in descriptor["attributes"].items()]
    generator = np.random.default_rng(seed)
    graph_inputs, initializers, feeds, input_names = [], [], {}, []
    for index, (shape, dtype_name, is_weight) in enumerate(
        zip(descriptor["input_shapes"], descriptor["input_dtypes"], descriptor["input_is_weight"])
    ):
        dtype = _DTYPES[dtype_name]
        if index in descriptor["constant_int_inputs"]:
            name = f"constant{index}"
            constant_dtype = dtype if np.issubdtype(dtype, np.integer) else np.int64
            array = np.asarray(descriptor["constant_int_inputs"][index], dtype=constant_dtype).reshape(shape)
            initializers.append(onnx.numpy_helper.from_array(array, name))
        elif is_weight:
            name = f"weight{index}"
            initializers.append(onnx.numpy_helper.from_array(_random_array(generator, shape, dtype, _index_bound(descriptor, index)), name))
        else:
            name = f"input{index}"
            graph_inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape))
            feeds[name] = _random_array(generator, shape, dtype, _index_bound(descriptor, index))
        input_names.append(name)
    output_names = [f"output{index}" for index in range(descriptor["num_outputs"])]
    node = helper.make_node(op_type, input_names, output_names, name=f"measured_{op_type}")
    node.attribute.extend(attributes)
    # Outputs are declared without types; shape inference fills them in (and checks the node).
    outputs = [onnx.ValueInfoProto(name=name) for name in output_names]
    graph = helper.make_graph([node], "single_op", graph_inputs, outputs, initializer=initializers)
    model = checked_model(graph, "rlgraph_xflow.measure", f"{where}: ONNX rejects the {op_type} node built from it")
    untyped = [output.name for output in model.graph.output if not output.type.HasField("tensor_type")]
    if untyped:
        raise ValueError(f"{where}: could not infer the type of outputs {untyped} of {op_type}")
    return model, feeds


def measure_op(descriptor: Mapping[str, Any], runs: int = 20, warmup: int = 3, seed: int = 0) -> float:
    """Median milliseconds of one operator run alone in onnxruntime on the CPU.

    Args:
        descriptor: an op descriptor (see the module docstring).
        runs: timed runs; the median is returned.
        warmup: untimed runs first.
        seed: seed for the random weights and inputs.

    Returns:
        The median run time in milliseconds (> 0).

    Raises:
        ValueError: a malformed descriptor or one ONNX / onnxruntime rejects,
            or runs < 1 / warmup < 0.

    Example:
        >>> measure_op({"cost_key": "Relu|1x64x56x56", "op_type": "Relu", "attributes": {},
        ...             "input_shapes": [[1, 64, 56, 56]], "input_dtypes": ["float32"],
        ...             "input_is_weight": [False], "constant_int_inputs": {}, "num_outputs": 1})
    """
    model, feeds = single_op_model(descriptor, seed=seed)
    try:
        session = create_cpu_session(model)
        session.run(None, feeds)
    except Exception as error:  # onnxruntime raises its own exception types (Fail, InvalidArgument, ...)
        raise ValueError(f"{_where(descriptor)}: onnxruntime cannot run the {descriptor['op_type']} node: {error}") from error
    return median_latency_ms(lambda: session.run(None, feeds), runs=runs, warmup=warmup)


def default_device_name() -> str:
    """Names this machine's CPU and the runtime, e.g. "Intel(R) Xeon(R) ... / onnxruntime-1.31.1-cpu".

    The onnxruntime version is part of the name because a new version brings
    new kernels, so costs measured with an older one should not be reused.
    """
    model_name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    model_name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model_name = model_name or platform.processor() or platform.machine() or "unknown-cpu"
    return f"{model_name} / onnxruntime-{import_onnxruntime().__version__}-cpu"
