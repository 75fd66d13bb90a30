"""The `measured` cost model: what onnxruntime's kernels cost as they run inside a graph.

Holds:
  kernel_model: a kernel descriptor (the engine's Graph.kernel_descriptors)
    -> a small ONNX model of the kernel's ops and random feeds.
  measure_kernel: the kernel's run time in onnxruntime, from its per-node
    profile (the kernels' own time, not the session call around them).
  calibrate_overheads: the runtime's fixed costs: per launched kernel and per
    inference call.
  local_device_name: this machine's device key for measured tables.
  MeasuredCostModel: a persistent table of kernel costs for one device and
    an engine KernelPricer over it; kernels the table lacks are measured on
    this machine (and stored), or are an error for another machine's table.

Why kernels: at ORT_ENABLE_ALL onnxruntime fuses Conv with its
BatchNormalization, residual Add and Relu, MatMul with its bias (Gemm), GELU's
five ops, Add with LayerNormalization, and folds weights at session creation
(ops/engine/runtime_kernels.h says which). Pricing ONNX ops one by one makes
fusions the runtime already does look profitable.

Why profile time: a one-node session's wall time adds the call, the thread
pool's wake-up and output allocation to every op (single-op totals were
26-105% above the real latency). onnxruntime's per-node profile times the
kernel alone, which is what the kernel costs inside a graph; the call and the
dispatch between kernels are measured once (calibrate_overheads) and added
per graph and per kernel.

Sessions use CPUExecutionProvider at ORT_ENABLE_ALL with spinning off, like
the latency protocol (graphs/latency.py). onnxruntime runs Conv kernels in a
blocked layout (NCHWc), and a Conv run alone is wrapped in layout reorders,
which are left out of the kernel: inside a chain of blocked kernels there are
none. Where a graph does copy between layouts (a Split after merged convs,
the graph's edges) the engine lists the copies (LayoutReorder) and each is
priced by its tensor type, timed as the Reorder node of a 1x1 Conv.

Why a reference kernel: on a shared machine a kernel timed while other work
runs costs more, and a table filled over hours mixes loads (a table measured
under load priced greedy's new resnet50 kernels 24% below the original's,
against a real change of +3%). Each kernel is therefore timed in the same
rounds as a fixed reference kernel (a 3x3 Conv), run for run, and stored as
the median of its per-run ratios to the reference times the reference's own
time when the table was calibrated. Load that slows both cancels; what is
left is the reference's calibrated time, measured once, which sets the
table's scale. The trade: a small single-threaded kernel slows less under
load than the multi-threaded reference, so under heavy load it comes out
cheap; small kernels are a small part of a graph's total. The table records
when it was calibrated and the load average then (CONDITION_KEYS), so a
table calibrated on a busy machine can be told apart.

A table's device key names the CPU, the runtime and its version; a table
measured on another machine is used as it is, and a kernel missing from it is
a CostError naming the kernel and the device (it cannot be measured here).
"""
from __future__ import annotations

import json
import os
import pathlib
import statistics
import tempfile
import time
from typing import Any, Mapping

import numpy as np
import onnx
from onnx import helper

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.graphs.cost_cache import CostCache
from rlgraph_xflow.graphs.errors import CostError
from rlgraph_xflow.graphs.measure import (
    _DTYPES,
    _attribute,
    _checked_descriptor,
    _index_bound,
    _random_array,
    checked_model,
    default_device_name,
)
from rlgraph_xflow.graphs.onnxruntime_session import import_onnxruntime
from rlgraph_xflow.graphs.zoo_builder import ONNX_IR_VERSION, ONNX_OPSET
from rlgraph_xflow.ops import KernelPricer

__all__ = [
    "MeasuredCostModel",
    "ReferenceKernel",
    "calibrate_overheads",
    "kernel_model",
    "local_device_name",
    "measure_kernel",
    "paired_ratio",
]

PER_KERNEL_KEY = "#per_kernel_ms"
PER_CALL_KEY = "#per_call_ms"
REFERENCE_KEY = "#reference_ms"
CALIBRATED_AT_KEY = "#calibrated_unix_s"
CALIBRATION_LOAD_KEY = "#calibration_load_1min"
CONDITION_KEYS = (CALIBRATED_AT_KEY, CALIBRATION_LOAD_KEY)
# Nodes onnxruntime adds to move a lone NCHWc kernel's input and output between layouts.
_LAYOUT_NODES = ("ReorderInput", "ReorderOutput")


def local_device_name() -> str:
    """This machine's key for measured kernel tables: its CPU and onnxruntime version, kernel-level."""
    return f"{default_device_name()} kernels"


def kernel_model(descriptor: Mapping[str, Any], seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The ONNX model of one kernel's ops, with random feeds.

    Args:
        descriptor: a kernel descriptor: kernel_key, members (op descriptors,
            graphs/measure.py), fused_activation and member_inputs.
        seed: seed of the random weights and inputs.

    Returns:
        (model, feeds): tensors from outside the kernel are graph inputs (or
        weights and int constants as the op descriptors say); the last
        member's outputs are the graph outputs.

    Raises:
        ValueError: a malformed descriptor, or one ONNX rejects (naming the kernel key).
    """
    key = descriptor.get("kernel_key", "?") if isinstance(descriptor, Mapping) else "?"
    members = descriptor.get("members") if isinstance(descriptor, Mapping) else None
    wiring = descriptor.get("member_inputs") if isinstance(descriptor, Mapping) else None
    activations = descriptor.get("fused_activation") if isinstance(descriptor, Mapping) else None
    if not isinstance(members, list) or not members or not isinstance(wiring, list) or len(wiring) != len(members):
        raise ValueError(f"kernel {key!r}: expected members and member_inputs lists of the same non-zero length")
    activations = activations or [""] * len(members)
    generator = np.random.default_rng(seed)
    nodes, graph_inputs, initializers, feeds = [], [], [], {}
    external_names: dict[int, str] = {}
    for position, (raw, inputs) in enumerate(zip(members, wiring)):
        member = _checked_descriptor(raw)
        if len(inputs) != len(member["input_shapes"]):
            raise ValueError(f"kernel {key!r}: member {position} has {len(member['input_shapes'])} inputs but {len(inputs)} wiring entries")
        names = []
        for index, (source, output) in enumerate(inputs):
            shape, dtype = member["input_shapes"][index], _DTYPES[member["input_dtypes"][index]]
            if source >= 0:
                if source >= position:
                    raise ValueError(f"kernel {key!r}: member {position} reads member {source}, which comes later")
                names.append(f"m{source}_out{output}")
            elif index in member["constant_int_inputs"]:
                name = f"m{position}_constant{index}"
                constant_dtype = dtype if np.issubdtype(dtype, np.integer) else np.int64
                values = np.asarray(member["constant_int_inputs"][index], dtype=constant_dtype).reshape(shape)
                initializers.append(onnx.numpy_helper.from_array(values, name))
                names.append(name)
            elif member["input_is_weight"][index]:
                name = f"m{position}_weight{index}"
                array = _random_array(generator, shape, dtype, _index_bound(member, index))
                initializers.append(onnx.numpy_helper.from_array(array, name))
                names.append(name)
            elif output in external_names:
                names.append(external_names[output])
            else:
                name = external_names[output] = f"input{output}"
                graph_inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape))
                feeds[name] = _random_array(generator, shape, dtype, _index_bound(member, index))
                names.append(name)
        op_type = member["op_type"]
        try:
            schema = onnx.defs.get_schema(op_type, ONNX_OPSET)
        except onnx.defs.SchemaError:
            raise ValueError(f"kernel {key!r}: '{op_type}' is not an ONNX op type at opset {ONNX_OPSET}") from None
        outputs = [f"m{position}_out{index}" for index in range(member["num_outputs"])]
        activation = activations[position]
        node_outputs = [f"m{position}_before_activation"] if activation else outputs
        node = helper.make_node(op_type, names, node_outputs, name=f"m{position}_{op_type}")
        node.attribute.extend(_attribute(op_type, schema, name, value, f"kernel {key!r}") for name, value in member["attributes"].items())
        nodes.append(node)
        if activation:
            if activation != "relu":
                raise ValueError(f"kernel {key!r}: unsupported fused activation {activation!r}")
            nodes.append(helper.make_node("Relu", node_outputs, outputs, name=f"m{position}_activation"))
    last_outputs = [onnx.ValueInfoProto(name=f"m{len(members) - 1}_out{index}") for index in range(members[-1]["num_outputs"])]
    graph = helper.make_graph(nodes, "kernel", graph_inputs, last_outputs, initializer=initializers)
    return checked_model(graph, "rlgraph_xflow.kernel_costs", f"kernel {key!r}: ONNX rejects the model built from it"), feeds


def _session(model: onnx.ModelProto, profile_prefix: str | None = None):
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return onnxruntime.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])


class _ProfiledSession:
    """A session whose per-node profile gives each run's kernel time."""

    def __init__(self, model: onnx.ModelProto, folder: str, name: str, only: str | None = None) -> None:
        self._session = _session(model, os.path.join(folder, name))
        self._only = only

    def run(self, feeds: Mapping[str, np.ndarray]) -> None:
        self._session.run(None, dict(feeds))

    def per_run_ms(self, runs: int) -> list[float]:
        """Each of the last `runs` runs' summed kernel time; empty when no node ran.

        Layout reorders are left out, unless `only` names the one op type to time.
        """
        events = json.loads(pathlib.Path(self._session.end_profiling()).read_text(encoding="utf-8"))
        durations: dict[str, list[float]] = {}
        for event in events:
            name = event.get("name", "")
            if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
                continue
            op_name = event.get("args", {}).get("op_name")
            if (op_name != self._only) if self._only is not None else (op_name in _LAYOUT_NODES):
                continue
            durations.setdefault(name, []).append(event["dur"] / 1e3)
        if not durations:
            return []
        # Warm-up runs are profiled too; only the last `runs` of each node count.
        per_node = [times[-runs:] for times in durations.values()]
        if any(len(times) != runs for times in per_node):
            raise RuntimeError(f"onnxruntime's profile holds {sorted(len(times) for times in per_node)} runs per node, expected {runs}")
        return [sum(run) for run in zip(*per_node)]


def _profiled_kernel_ms(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], runs: int, warmup: int,
                        only: str | None = None, reference: "ReferenceKernel | None" = None) -> tuple[float, int]:
    """(the model's kernel time in ms, number of runs with kernels: 0 when everything folded).

    Without a reference: the median over runs of the summed kernel time.
    With one: the reference is run before each run of the model, and the
    result is paired_ratio(model runs, reference runs) x the reference's
    calibrated time.
    """
    with tempfile.TemporaryDirectory(prefix="rlgraph_xflow_profile_") as folder:
        session = _ProfiledSession(model, folder, "kernel", only)
        anchor = _ProfiledSession(reference.model, folder, "reference") if reference is not None else None
        for _ in range(warmup + runs):
            if anchor is not None:
                anchor.run(reference.feeds)
            session.run(feeds)
        times = session.per_run_ms(runs)
        if not times:
            return 0.0, 0
        if anchor is None:
            return statistics.median(times), len(times)
        return paired_ratio(times, anchor.per_run_ms(runs)) * reference.milliseconds, len(times)


def paired_ratio(kernel_ms: list[float], reference_ms: list[float]) -> float:
    """The median of kernel_ms[i] / reference_ms[i]: a kernel's time in units of a reference run beside it.

    Raises:
        ValueError: lists of different or zero length, or a reference time <= 0.
    """
    if len(kernel_ms) != len(reference_ms) or not kernel_ms:
        raise ValueError(f"paired_ratio: expected two lists of the same non-zero length, found {len(kernel_ms)} and {len(reference_ms)}")
    if min(reference_ms) <= 0:
        raise ValueError(f"paired_ratio: reference times must be > 0, found {min(reference_ms)}")
    return statistics.median(kernel / anchor for kernel, anchor in zip(kernel_ms, reference_ms))


class ReferenceKernel:
    """The kernel every measurement is paired with: a 3x3 Conv (64 -> 64 channels, 28x28) and Relu.

    Attributes:
        model, feeds: its ONNX model and random input.
        milliseconds: its calibrated kernel time (the table's scale).
    """

    CHANNELS, SIZE = 64, 28

    def __init__(self, milliseconds: float | None = None) -> None:
        generator = np.random.default_rng(0)
        channels, size = self.CHANNELS, self.SIZE
        weight = onnx.numpy_helper.from_array(generator.standard_normal((channels, channels, 3, 3)).astype(np.float32), "w")
        graph = helper.make_graph(
            [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
            "reference",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, channels, size, size])],
            [onnx.ValueInfoProto(name="y")],
            initializer=[weight],
        )
        self.model = checked_model(graph, "rlgraph_xflow.kernel_costs", "the reference kernel")
        self.feeds = {"x": generator.standard_normal((1, channels, size, size)).astype(np.float32)}
        if milliseconds is not None and not milliseconds > 0:
            raise ValueError(f"ReferenceKernel: milliseconds must be > 0, found {milliseconds!r}")
        self.milliseconds = milliseconds

    def calibrate(self, rounds: int = 12, runs: int = 25, warmup: int = 20, pause_s: float = 0.25) -> float:
        """Times the reference alone, keeps and returns the median over every run.

        The runs come in `rounds` with `pause_s` between them: on a shared
        host this machine's speed for the same kernel swings between states
        (0.48 and 0.74 ms for the reference, each lasting seconds), and the
        table's scale should be the typical speed, not one moment's.
        """
        with tempfile.TemporaryDirectory(prefix="rlgraph_xflow_profile_") as folder:
            session = _ProfiledSession(self.model, folder, "reference")
            for _ in range(warmup):
                session.run(self.feeds)
            for round_index in range(rounds):
                if round_index:
                    time.sleep(pause_s)
                for _ in range(runs):
                    session.run(self.feeds)
            self.milliseconds = statistics.median(session.per_run_ms(rounds * runs))
        return self.milliseconds


def measure_kernel(descriptor: Mapping[str, Any], runs: int = 20, warmup: int = 5, seed: int = 0,
                   reference: ReferenceKernel | None = None) -> float:
    """Milliseconds the kernel's own nodes run in onnxruntime on this CPU.

    Without a reference, the median over runs; with a calibrated one, timed
    run for run against it (paired_ratio x its calibrated time), so that
    load on the machine while measuring cancels.

    Raises:
        ValueError: a malformed descriptor, bad runs/warmup, or a model onnxruntime cannot run.
    """
    for label, value, least in (("runs", runs, 1), ("warmup", warmup, 0)):
        if not is_int(value) or value < least:
            raise ValueError(f"measure_kernel: {label} must be an int >= {least}, found {value!r}")
    if reference is not None and reference.milliseconds is None:
        raise ValueError("measure_kernel: the reference kernel is not calibrated (ReferenceKernel.calibrate)")
    if isinstance(descriptor, Mapping) and descriptor.get("reorder"):
        return _measure_reorder(descriptor, runs, warmup, seed, reference)
    model, feeds = kernel_model(descriptor, seed=seed)
    try:
        milliseconds, timed = _profiled_kernel_ms(model, feeds, runs, warmup, reference=reference)
    except Exception as error:  # onnxruntime's own exception types
        raise ValueError(f"kernel {descriptor.get('kernel_key')!r}: onnxruntime cannot run it: {error}") from error
    if timed == 0:
        # Everything folded at session creation: the kernel costs nothing at inference.
        return 0.0
    return milliseconds


def _measure_reorder(descriptor: Mapping[str, Any], runs: int, warmup: int, seed: int, reference: ReferenceKernel | None) -> float:
    """A layout copy's time: the named Reorder node of a 1x1 Conv (C -> C) run alone, which has one each way."""
    kind, shape = descriptor["reorder"], list(descriptor.get("reorder_shape") or [])
    if kind not in _LAYOUT_NODES or len(shape) != 4 or descriptor.get("reorder_dtype") != "float32":
        raise ValueError(f"layout copy {descriptor.get('kernel_key')!r}: expected a float32 4-D ReorderInput/ReorderOutput, found {kind!r} {shape}")
    generator = np.random.default_rng(seed)
    channels = shape[1]
    weight = onnx.numpy_helper.from_array(generator.standard_normal((channels, channels, 1, 1)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "reorder",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)],
                              [onnx.ValueInfoProto(name="y")], initializer=[weight])
    model = checked_model(graph, "rlgraph_xflow.kernel_costs", f"layout copy {descriptor['kernel_key']!r}")
    feeds = {"x": generator.standard_normal(shape).astype(np.float32)}
    milliseconds, timed = _profiled_kernel_ms(model, feeds, runs, warmup, only=kind, reference=reference)
    # No such node: onnxruntime does not block this tensor, and copies nothing.
    return milliseconds if timed else 0.0


def _relu_chain(length: int, width: int = 256) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    nodes = [helper.make_node("Relu", [f"t{index}"], [f"t{index + 1}"], name=f"relu{index}") for index in range(length)]
    graph = helper.make_graph(
        nodes,
        "relu_chain",
        [helper.make_tensor_value_info("t0", onnx.TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info(f"t{length}", onnx.TensorProto.FLOAT, [1, width])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = ONNX_IR_VERSION
    return model, {"t0": np.random.default_rng(0).standard_normal((1, width)).astype(np.float32)}


def calibrate_overheads(runs: int = 200, warmup: int = 20, short: int = 1, long: int = 33) -> tuple[float, float]:
    """The runtime's fixed costs: (ms per launched kernel, ms per inference call).

    Two chains of tiny Relu kernels are timed end to end (session.run wall
    time, as the latency protocol times models) and by their profile; the
    wall time not spent in kernels grows with the chain by the per-kernel
    dispatch cost, and what is left at length zero is the call's cost.
    """
    overheads = []
    for length in (short, long):
        model, feeds = _relu_chain(length)
        session = _session(model)
        for _ in range(warmup):
            session.run(None, feeds)
        walls = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            session.run(None, feeds)
            walls.append((time.perf_counter_ns() - start) / 1e6)
        kernel_ms, _ = _profiled_kernel_ms(model, feeds, runs, warmup)
        overheads.append(statistics.median(walls) - kernel_ms)
    per_kernel = max(0.0, (overheads[1] - overheads[0]) / (long - short))
    per_call = max(0.0, overheads[0] - short * per_kernel)
    return per_kernel, per_call


class MeasuredCostModel:
    """Kernel costs of one device, persisted in the cost cache, priced by the engine.

    Attributes:
        device: the table's device key (local_device_name() for this machine).
        cache: the CostCache holding the table.
        local: whether the table is this machine's, so missing kernels can be measured.
        pricer: the engine's KernelPricer over the table (share it with
            searches and environments: it caches by kernel configuration).
        reference: this machine's calibrated ReferenceKernel (None for another machine's table).
        conditions: what the table records about its calibration: the
            reference's time, when (unix seconds) and the 1-minute load average then.

    Example:
        >>> model = MeasuredCostModel()                # this machine, default cache
        >>> model.price(graph)["runtime_ms"]           # measures kernels the table lacks
    """

    def __init__(self, device: str | None = None, cache: CostCache | None = None, runs: int = 20, warmup: int = 5) -> None:
        """Args:
        device: None or "local" for this machine; else the device key of a
            table in the cache (measured elsewhere).
        cache: the table file; None opens the default cost cache.
        runs, warmup: profiled runs per measured kernel.

        Raises:
            CostError: another device with no table in the cache (naming the
                devices it has), or a table without its calibrated overheads.
        """
        if cache is not None and not isinstance(cache, CostCache):
            raise TypeError(f"MeasuredCostModel: cache must be a CostCache, found {type(cache).__name__}")
        if device is not None and (not isinstance(device, str) or not device):
            raise CostError(f"measured costs: device must be a non-empty string, found {device!r}")
        self.cache = cache if cache is not None else CostCache()
        here = local_device_name()
        self.device = here if device in (None, "local") else device
        self.local = self.device == here
        self.runs, self.warmup = runs, warmup
        table = self.cache.entries(self.device)
        if not self.local and not table:
            known = [name for name in self.cache.devices()]
            raise CostError(
                f"measured costs: no kernel table for device {self.device!r} in '{self.cache.path}' "
                f"(tables there: {known or 'none'}); this machine is {here!r} (--device local)"
            )
        if PER_KERNEL_KEY not in table or PER_CALL_KEY not in table:
            if not self.local:
                raise CostError(f"measured costs: the table of {self.device!r} in '{self.cache.path}' lacks its calibrated overheads")
            per_kernel, per_call = calibrate_overheads()
            self.cache.put_many(self.device, {PER_KERNEL_KEY: per_kernel, PER_CALL_KEY: per_call})
            table = self.cache.entries(self.device)
        self.reference = None
        if self.local:
            # A table from before references (or a new one) is calibrated now; its older entries stay.
            if REFERENCE_KEY not in table:
                milliseconds = ReferenceKernel().calibrate()
                self.cache.put_many(self.device, {
                    REFERENCE_KEY: milliseconds,
                    CALIBRATED_AT_KEY: time.time(),
                    CALIBRATION_LOAD_KEY: os.getloadavg()[0],
                })
                table = self.cache.entries(self.device)
            self.reference = ReferenceKernel(table[REFERENCE_KEY])
        self.conditions = {key: table[key] for key in (REFERENCE_KEY, *CONDITION_KEYS) if key in table}
        kernels = {key: value for key, value in table.items() if not key.startswith("#")}
        self.pricer = KernelPricer(
            self.device, kernels, table[PER_KERNEL_KEY], table[PER_CALL_KEY], self._measure if self.local else None
        )

    def _measure(self, descriptor: dict) -> float:
        milliseconds = measure_kernel(descriptor, runs=self.runs, warmup=self.warmup, reference=self.reference)
        self.cache.put(self.device, descriptor["kernel_key"], milliseconds)
        return milliseconds

    @property
    def measured_count(self) -> int:
        """Kernels measured by this model so far (table misses)."""
        return self.pricer.measured_count

    def price(self, graph: Any) -> dict:
        """The engine's cost dict of an XflowGraph or engine Graph (runtime_ms, ..., ops)."""
        return self.pricer.price(getattr(graph, "engine", graph))

    def runtime_ms(self, graph: Any) -> float:
        """The predicted latency of an XflowGraph or engine Graph, in milliseconds."""
        return self.pricer.runtime_ms(getattr(graph, "engine", graph))

    def describe(self) -> str:
        """One line naming the model and device, for reports."""
        return f"measured onnxruntime kernels on {self.device}"

    def describe_conditions(self) -> str:
        """When and under what load the table was calibrated, or that it does not say."""
        if CALIBRATED_AT_KEY not in self.conditions:
            return f"the table of {self.device} does not record when it was calibrated"
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.conditions[CALIBRATED_AT_KEY]))
        return (f"table calibrated {when}, load average {self.conditions.get(CALIBRATION_LOAD_KEY, float('nan')):.2f} "
                f"on {os.cpu_count()} cores, reference kernel {self.conditions[REFERENCE_KEY]:.4f} ms")
