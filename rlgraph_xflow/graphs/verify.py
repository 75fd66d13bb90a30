"""Checks that a rewritten ONNX graph computes what the original does, and times both.

Holds:
  OutputDifference: how far one output of the candidate is from the original's.
  VerificationResult: the verdict, the differences and the latency comparison.
  random_inputs: seeded random feeds for a model's inputs (floats from N(0, 1),
    integer ids below the size of the table they index).
  verify: runs both models in onnxruntime on the same inputs, compares their
    outputs and times them under a LatencyProtocol (`latency.py`).

Both models run on CPUExecutionProvider with ORT_ENABLE_ALL, so the latency
comparison is between the two graphs as a deployed runtime would run them,
not between one optimised and one unoptimised session; spinning is off and
the two are timed in alternating rounds (see `latency.py`).

Example:
    >>> result = verify(zoo.build("resnet18"), "optimised.onnx")
    >>> result.equal, result.latency.change, result.latency.verdict
"""
from __future__ import annotations

import dataclasses
import os
from typing import Mapping

import numpy as np
import onnx
from onnx import helper

from rlgraph_xflow.core.validation import is_number
from rlgraph_xflow.graphs.latency import LatencyComparison, LatencyProtocol, compare_latencies, create_timing_session, time_sessions

ModelSource = onnx.ModelProto | str | os.PathLike


@dataclasses.dataclass(frozen=True)
class OutputDifference:
    """How one output of the candidate differs from the original's.

    Attributes:
        name: the output's name.
        shape: its shape in this run.
        max_abs_diff: max |candidate - original| (inf where only one side is
            NaN or infinite).
        max_rel_diff: max |candidate - original| / |original| over the
            elements where the original is not zero.
        equal: every element within atol + rtol * |original|.
    """

    name: str
    shape: tuple[int, ...]
    max_abs_diff: float
    max_rel_diff: float
    equal: bool


@dataclasses.dataclass(frozen=True)
class VerificationResult:
    """The outcome of `verify`.

    Attributes:
        equal: every output of the candidate matches the original's within tolerance.
        max_abs_diff: the largest absolute difference over all outputs.
        max_rel_diff: the largest relative difference over all outputs.
        outputs: per-output differences, in the original's output order.
        latency_ms_original: the original's latency (median of round medians), in milliseconds.
        latency_ms_candidate: the candidate's, in milliseconds.
        latency: the candidate's latency change against the original's, its
            noise band and the verdict ("faster", "same" or "slower").
        protocol: the protocol both were timed with.
        rtol: the relative tolerance used.
        atol: the absolute tolerance used.
    """

    equal: bool
    max_abs_diff: float
    max_rel_diff: float
    outputs: tuple[OutputDifference, ...]
    latency_ms_original: float
    latency_ms_candidate: float
    latency: LatencyComparison
    protocol: LatencyProtocol
    rtol: float
    atol: float

    @property
    def speedup(self) -> float:
        """Original latency divided by candidate latency (> 1 means the candidate is faster)."""
        return self.latency_ms_original / self.latency_ms_candidate


def _load_metadata(model: ModelSource, role: str) -> onnx.ModelProto:
    """The ModelProto of a model given as a proto or a path (weights left on disk)."""
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"verify: the {role} model file '{path}' does not exist")
        try:
            return onnx.load(path, load_external_data=False)
        except Exception as error:  # onnx raises DecodeError and others for a non-ONNX file
            raise ValueError(f"verify: the {role} model file '{path}' is not a readable ONNX model: {error}") from error
    raise TypeError(f"verify: the {role} model must be an onnx.ModelProto or a path, found {type(model).__name__}")


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    # Before IR version 4, initializers were also listed as inputs; they are not fed.
    initializer_names = {initializer.name for initializer in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializer_names]


def _dimensions(value: onnx.ValueInfoProto) -> list[int | str | None] | None:
    """Static sizes as ints, symbolic ones as their names, unknown as None; None if no shape."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dimensions = []
    for dimension in tensor_type.shape.dim:
        if dimension.HasField("dim_value"):
            dimensions.append(dimension.dim_value)
        elif dimension.HasField("dim_param"):
            dimensions.append(dimension.dim_param)
        else:
            dimensions.append(None)
    return dimensions


def _type_name(value: onnx.ValueInfoProto) -> str:
    return helper.tensor_dtype_to_string(value.type.tensor_type.elem_type)


def _check_same_interface(kind: str, original: list[onnx.ValueInfoProto], candidate: list[onnx.ValueInfoProto]) -> None:
    original_names = [value.name for value in original]
    candidate_names = [value.name for value in candidate]
    if sorted(original_names) != sorted(candidate_names):
        missing = sorted(set(original_names) - set(candidate_names))
        extra = sorted(set(candidate_names) - set(original_names))
        raise ValueError(
            f"verify: the models' {kind}s differ: original has {original_names}, candidate has {candidate_names} "
            f"(missing from candidate: {missing}, not in original: {extra})"
        )
    candidate_by_name = {value.name: value for value in candidate}
    for original_value in original:
        candidate_value = candidate_by_name[original_value.name]
        original_type = original_value.type.tensor_type.elem_type
        candidate_type = candidate_value.type.tensor_type.elem_type
        if original_type and candidate_type and original_type != candidate_type:
            raise ValueError(
                f"verify: {kind} '{original_value.name}' has type {_type_name(original_value)} in the original "
                f"but {_type_name(candidate_value)} in the candidate"
            )
        original_shape, candidate_shape = _dimensions(original_value), _dimensions(candidate_value)
        if original_shape is None or candidate_shape is None:
            continue
        mismatched = len(original_shape) != len(candidate_shape) or any(
            isinstance(left, int) and isinstance(right, int) and left != right
            for left, right in zip(original_shape, candidate_shape)
        )
        if mismatched:
            raise ValueError(
                f"verify: {kind} '{original_value.name}' has shape {original_shape} in the original "
                f"but {candidate_shape} in the candidate"
            )


def _gathered_table_sizes(model: onnx.ModelProto) -> dict[str, int]:
    """For each graph input used directly as Gather indices into a weight table: the table's size."""
    table_shapes = {initializer.name: list(initializer.dims) for initializer in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            table_shapes[node.output[0]] = list(node.attribute[0].t.dims)
    sizes: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[0] not in table_shapes:
            continue
        table_shape = table_shapes[node.input[0]]
        axis = next((attribute.i for attribute in node.attribute if attribute.name == "axis"), 0)
        size = table_shape[axis]
        sizes[node.input[1]] = min(size, sizes.get(node.input[1], size))
    return sizes


def random_inputs(
    model: ModelSource,
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
    int_high: int | None = None,
) -> dict[str, np.ndarray]:
    """Seeded random values for every graph input of a model.

    Floats come from N(0, 1); booleans are fair coin flips; integers are drawn
    from [0, int_high), or, when int_high is None and the input indexes a
    weight table through Gather (token ids into an embedding), from
    [0, rows of that table).

    Args:
        model: a ModelProto or a path to an .onnx file.
        seed: seed of the numpy Generator.
        dims: sizes for symbolic dimensions by name; unnamed or unlisted ones are 1.
        int_high: exclusive upper bound for every integer input.

    Returns:
        name -> array, in the model's input order.

    Raises:
        ValueError: an integer input whose valid range cannot be told (pass
            int_high), or an input type that cannot be generated.
    """
    return _random_values(_load_metadata(model, "given"), seed, dims, int_high, skip=set())


def _random_values(
    proto: onnx.ModelProto, seed: int, dims: Mapping[str, int] | None, int_high: int | None, skip: set[str]
) -> dict[str, np.ndarray]:
    dims = dict(dims or {})
    generator = np.random.default_rng(seed)
    table_sizes = _gathered_table_sizes(proto)
    values: dict[str, np.ndarray] = {}
    for value in _graph_inputs(proto):
        if value.name in skip:
            continue
        dimensions = _dimensions(value)
        if dimensions is None:
            raise ValueError(f"random_inputs: input '{value.name}' has no shape; pass its value in input_values")
        shape = tuple(dimension if isinstance(dimension, int) else int(dims.get(dimension, 1)) for dimension in dimensions)
        element_type = value.type.tensor_type.elem_type
        dtype = helper.tensor_dtype_to_np_dtype(element_type)
        if np.issubdtype(dtype, np.floating):
            values[value.name] = generator.standard_normal(shape).astype(dtype)
        elif dtype == np.bool_:
            values[value.name] = generator.integers(0, 2, size=shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            high = int_high if int_high is not None else table_sizes.get(value.name)
            if high is None:
                raise ValueError(
                    f"random_inputs: integer input '{value.name}' does not index a weight table through Gather, "
                    "so its valid range is unknown; pass int_high=... or its value in input_values"
                )
            if high < 1:
                raise ValueError(f"random_inputs: int_high must be at least 1, found {high}")
            values[value.name] = generator.integers(0, high, size=shape).astype(dtype)
        else:
            raise ValueError(
                f"random_inputs: input '{value.name}' has type {_type_name(value)}, which cannot be generated; "
                "pass its value in input_values"
            )
    return values


def _checked_overrides(inputs: list[onnx.ValueInfoProto], input_values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    by_name = {value.name: value for value in inputs}
    checked = {}
    for name, array in input_values.items():
        if name not in by_name:
            raise ValueError(f"verify: input_values has '{name}', but the models' inputs are {list(by_name)}")
        array = np.asarray(array)
        expected_dtype = helper.tensor_dtype_to_np_dtype(by_name[name].type.tensor_type.elem_type)
        if array.dtype != expected_dtype:
            raise ValueError(f"verify: input_values['{name}'] has dtype {array.dtype}, the models expect {np.dtype(expected_dtype)}")
        expected_shape = _dimensions(by_name[name]) or []
        if len(expected_shape) != array.ndim or any(
            isinstance(expected, int) and expected != found for expected, found in zip(expected_shape, array.shape)
        ):
            raise ValueError(f"verify: input_values['{name}'] has shape {list(array.shape)}, the models expect {expected_shape}")
        checked[name] = array
    return checked


def _difference(name: str, original: np.ndarray, candidate: np.ndarray, rtol: float, atol: float) -> OutputDifference:
    if original.shape != candidate.shape:
        raise ValueError(
            f"verify: output '{name}' has shape {list(original.shape)} from the original "
            f"but {list(candidate.shape)} from the candidate"
        )
    original64 = original.astype(np.float64)
    candidate64 = candidate.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(candidate64 - original64)
    # Identical values (including matching infinities and NaN against NaN) differ by nothing;
    # anything else non-finite is an infinite difference.
    identical = (original64 == candidate64) | (np.isnan(original64) & np.isnan(candidate64))
    difference[identical] = 0.0
    difference[np.isnan(difference)] = np.inf
    magnitude = np.abs(original64)
    nonzero = magnitude > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = difference[nonzero] / magnitude[nonzero]
    relative[np.isnan(relative)] = np.inf
    equal = bool(np.all(difference <= atol + rtol * np.nan_to_num(magnitude, posinf=0.0)))
    return OutputDifference(
        name=name,
        shape=tuple(original.shape),
        max_abs_diff=float(difference.max()) if difference.size else 0.0,
        max_rel_diff=float(relative.max()) if relative.size else 0.0,
        equal=equal,
    )


def verify(
    original: ModelSource,
    candidate: ModelSource,
    protocol: LatencyProtocol | None = None,
    seed: int = 0,
    rtol: float = 1e-4,
    atol: float = 1e-4,
    input_values: Mapping[str, np.ndarray] | None = None,
    int_high: int | None = None,
    dims: Mapping[str, int] | None = None,
) -> VerificationResult:
    """Runs two models on the same random inputs in onnxruntime; compares outputs and latency.

    Args:
        original: the reference model (ModelProto or path to an .onnx file).
        candidate: the rewritten model; it must have the same input and output
            names, types and static shapes.
        protocol: how both are timed (default: LatencyProtocol()).
        seed: seed of the random inputs.
        rtol: relative tolerance: an element matches when
            |candidate - original| <= atol + rtol * |original|.
        atol: absolute tolerance.
        input_values: fixed values for some inputs (by name); the rest are random.
        int_high: exclusive upper bound for random integer inputs; by default
            an input that indexes a Gather table (token ids) stays below its size.
        dims: sizes for symbolic dimensions by name (default 1).

    Returns:
        VerificationResult.

    Raises:
        ValueError: the models' inputs or outputs differ in name, type or
            shape; a bad input_values entry; an integer input without a known
            range; a protocol that is not a LatencyProtocol.
        FileNotFoundError: a path that does not exist.
        TypeError: a model that is neither a ModelProto nor a path.
    """
    protocol = LatencyProtocol() if protocol is None else protocol
    if not isinstance(protocol, LatencyProtocol):
        raise ValueError(f"verify: protocol must be a LatencyProtocol or None, found {type(protocol).__name__} {protocol!r}")
    for label, value in (("rtol", rtol), ("atol", atol)):
        if not is_number(value) or not value >= 0:
            raise ValueError(f"verify: {label} must be a number >= 0, found {value!r}")
    original_proto = _load_metadata(original, "original")
    candidate_proto = _load_metadata(candidate, "candidate")
    _check_same_interface("input", _graph_inputs(original_proto), _graph_inputs(candidate_proto))
    _check_same_interface("output", list(original_proto.graph.output), list(candidate_proto.graph.output))
    overrides = _checked_overrides(_graph_inputs(original_proto), input_values or {})

    feeds = {**_random_values(original_proto, seed, dims, int_high, skip=set(overrides)), **overrides}
    output_names = [value.name for value in original_proto.graph.output]
    original_session = create_timing_session(original)
    candidate_session = create_timing_session(candidate)
    original_outputs = original_session.run(output_names, feeds)
    candidate_outputs = candidate_session.run(output_names, feeds)
    differences = tuple(
        _difference(name, np.asarray(original_output), np.asarray(candidate_output), rtol, atol)
        for name, original_output, candidate_output in zip(output_names, original_outputs, candidate_outputs)
    )
    original_samples, candidate_samples = time_sessions(
        [lambda: original_session.run(output_names, feeds), lambda: candidate_session.run(output_names, feeds)], protocol
    )
    latency = compare_latencies(original_samples, candidate_samples, protocol.min_noise)
    return VerificationResult(
        equal=all(difference.equal for difference in differences),
        max_abs_diff=max((difference.max_abs_diff for difference in differences), default=0.0),
        max_rel_diff=max((difference.max_rel_diff for difference in differences), default=0.0),
        outputs=differences,
        latency_ms_original=latency.original_ms,
        latency_ms_candidate=latency.candidate_ms,
        latency=latency,
        protocol=protocol,
        rtol=rtol,
        atol=atol,
    )

