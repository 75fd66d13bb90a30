"""Optimized graphs against their originals in real runtimes: `python -m rlgraph_xflow.evaluate`.

Holds:
  RUNTIMES: the runtimes a graph is evaluated in ("onnxruntime", "tensorflow").
  EVALUATION_JSON, EVALUATION_MD, chart_file: the files the command writes.
  EvaluationInputError: bad input; the command prints one `error:` line and exits 2.
  EvaluationInput, resolve_input: one command-line argument (a run
    directory, an .onnx file or a zoo name) -> the graph's name, the method
    that produced its optimized graph, that graph, and its original model.
  evaluate_graphs: times and measures every input in each runtime; writes
    evaluation.json, evaluation.md and one bar chart per runtime.
  main: the command line.

What an input means:
  * A run directory (the --out of `python -m rlgraph_xflow.run` or
    `python -m rlgraph_xflow.optimize`): its optimized.onnx against its
    original. The original is rebuilt from result.json's `original_model`
    (zoo name or absolute path, batch size, sequence length, symbolic
    dimensions, zoo options); for runs older than that entry, from an agent
    run's config.yaml, or from a zoo name with the zoo's defaults when the
    optimized graph's inputs and outputs match it. The method is what
    produced the graph: result.json's `agent` (ppo, world_model) or `search`
    (greedy, backtracking). A run that exported the original graph (every
    candidate measured slower) is evaluated like the others, and its row
    says so.
  * An .onnx file or a zoo name has no optimized graph. It is measured alone
    (latency with its spread, peak memory): the baseline a user compares
    against, e.g. a model in TensorFlow before any optimization. Its rows
    have no change and no verdict, and it has no bar in the chart.

How: inputs with the same original are measured as one group. In each
runtime the group's original and all its optimized graphs alternate round by
round under one LatencyProtocol (rlgraph_xflow.graphs.latency: time_sessions,
compare_latencies), so every optimized graph is compared with the original
of the same rounds, and its change, noise band and verdict are the ground
truth issue's. Before timing, every optimized graph is run once beside the
original on the same seeded inputs: in onnxruntime the outputs must match
(rtol and atol 1e-3), or the original was not rebuilt as it was optimized
and the input is refused; in TensorFlow a mismatch is reported as a
warning, since it would be the converter's, not the run's. Peak memory is
measured per model in a child process of its own
(rlgraph_xflow.graphs.peak_memory): the process's peak RSS growth from
loading and running the model, or TensorFlow's allocator peak where
TensorFlow defines one (a GPU). onnxruntime runs each model in its own CPU
session with spinning off (as `verify` times them); TensorFlow runs each
through rlgraph_xflow.graphs.to_tensorflow, in one process whose thread pool
the models share. The onnxruntime sessions are released before TensorFlow
starts, so the two runtimes never compete for the cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import gc
import json
import os
import sys
import tempfile
from typing import Any, Callable, Mapping, NoReturn, Optional, Sequence

import numpy as np
import onnx

from rlgraph_xflow.config import ConfigError, load_config
from rlgraph_xflow.core.atomic_file import write_atomically
from rlgraph_xflow.core.output_folder import OutputFolderError, writable_folder
from rlgraph_xflow.graphs import zoo
from rlgraph_xflow.graphs.latency import (ONNXRUNTIME_CPU_TIMING, LatencyProtocol, LatencySamples, compare_latencies,
                                          create_timing_session, latency_line, time_sessions)
from rlgraph_xflow.graphs.peak_memory import PeakMemory, measure_peak_memory
from rlgraph_xflow.optimize.pipeline import (OPTIMIZED_FILE, ORIGINAL_MODEL_KEY, RESULT_FILE, LoadedModel, OptimizeInputError,
                                             load_original_model, original_model_fields)
from rlgraph_xflow.reporting.plots import ImprovementBar, plot_runtime_improvement

__all__ = [
    "EVALUATION_JSON",
    "EVALUATION_MD",
    "RUNTIMES",
    "EvaluationInput",
    "EvaluationInputError",
    "chart_file",
    "evaluate_graphs",
    "main",
    "resolve_input",
]

RUNTIMES = ("onnxruntime", "tensorflow")
EVALUATION_JSON = "evaluation.json"
EVALUATION_MD = "evaluation.md"
EXIT_USER_ERROR = 2
EXIT_MEASUREMENT_FAILED = 1
# The fewest alternating rounds a comparison may use: the noise band is their spread (as the optimize CLI).
MIN_LATENCY_ROUNDS = 3
# How close an optimized graph's outputs must be to the rebuilt original's (looser than verify's 1e-4:
# the optimized graph was verified at export; this only checks that the right original was rebuilt).
OUTPUT_TOLERANCE = 1e-3
MEMORY_RUNS = 3
_CONFIG_FILE = "config.yaml"


class EvaluationInputError(ValueError):
    """Bad input to the evaluation: the message says what was expected, what was found, and where."""


def chart_file(runtime: str) -> str:
    """The bar chart's file name for a runtime, e.g. runtime_improvement_onnxruntime.png."""
    return f"runtime_improvement_{runtime}.png"


@dataclasses.dataclass(frozen=True)
class EvaluationInput:
    """One input of the evaluation.

    Attributes:
        argument: the command-line argument as given.
        graph: the graph's name (the zoo name, or the .onnx file's name without .onnx).
        method: what produced the optimized graph (greedy, backtracking, ppo,
            world_model, ...); None for an input without one.
        run_dir: the run directory's absolute path; None for a file or zoo name.
        optimized_path: the optimized .onnx file; None for a file or zoo name.
        exported: result.json's `exported` ("optimized", or "original" when the
            run exported the original graph); None without a run directory.
        original_model: how to rebuild the original (result.json's original_model fields).
    """

    argument: str
    graph: str
    method: Optional[str]
    run_dir: Optional[str]
    optimized_path: Optional[str]
    exported: Optional[str]
    original_model: dict

    @property
    def original_key(self) -> str:
        """Inputs with equal keys share one original, measured once in one group."""
        return json.dumps(self.original_model, sort_keys=True)


def _read_result(run_dir: str) -> dict:
    path = os.path.join(run_dir, RESULT_FILE)
    if not os.path.isfile(path):
        raise EvaluationInputError(f"run directory {run_dir!r} has no {RESULT_FILE}: expected the --out folder of "
                                   "python -m rlgraph_xflow.run (an agent run) or python -m rlgraph_xflow.optimize")
    try:
        with open(path, encoding="utf-8") as stream:
            result = json.load(stream)
    except (OSError, ValueError) as error:
        raise EvaluationInputError(f"{path}: cannot read it as JSON: {error}") from error
    if not isinstance(result, dict):
        raise EvaluationInputError(f"{path}: expected a JSON object, found {type(result).__name__}")
    return result


def _method(result: Mapping[str, Any], run_dir: str) -> str:
    method = result.get("agent") or result.get("search")
    if not isinstance(method, str) or not method:
        raise EvaluationInputError(f"{os.path.join(run_dir, RESULT_FILE)}: names no method (neither 'agent' nor 'search'), "
                                   "so it is not a result of python -m rlgraph_xflow.run or python -m rlgraph_xflow.optimize")
    return method


def _original_of_older_run(result: Mapping[str, Any], run_dir: str) -> dict:
    """original_model for a run directory written before result.json recorded it."""
    config_path = os.path.join(run_dir, _CONFIG_FILE)
    if result.get("agent") and os.path.isfile(config_path):
        try:
            env = load_config(config_path).get("env") or {}
        except ConfigError as error:
            raise EvaluationInputError(f"cannot read the original model of {run_dir!r} from its {_CONFIG_FILE}: {error}") from error
        graph = env.get("graph") if isinstance(env, dict) else None
        if isinstance(graph, str):
            return original_model_fields(graph, batch_size=env.get("batch_size", 1), sequence_length=env.get("sequence_length"),
                                         graph_options=env.get("graph_options"))
    model = result.get("model")
    if model in zoo.names():
        return original_model_fields(model)
    raise EvaluationInputError(f"cannot tell the original model of {run_dir!r}: its {RESULT_FILE} has no {ORIGINAL_MODEL_KEY} "
                               f"(older runs did not record it) and its model {model!r} is not a zoo name; re-run it")


def _input_from_run_dir(argument: str, run_dir: str) -> EvaluationInput:
    result = _read_result(run_dir)
    method = _method(result, run_dir)
    optimized_path = os.path.join(run_dir, OPTIMIZED_FILE)
    if not os.path.isfile(optimized_path):
        if result.get("verified") is False:
            why = f"its {RESULT_FILE} says verified: false ({result.get('error') or 'no error recorded'})"
        else:
            why = "the run did not export a graph (it may have stopped early)"
        raise EvaluationInputError(f"run directory {run_dir!r} has no {OPTIMIZED_FILE}: {why}")
    fields = result.get(ORIGINAL_MODEL_KEY)
    original = dict(fields) if isinstance(fields, dict) else _original_of_older_run(result, run_dir)
    graph = str(result.get("model") or os.path.basename(run_dir))
    graph = os.path.splitext(os.path.basename(graph))[0] if graph.endswith(".onnx") else graph
    return EvaluationInput(argument, graph, method, run_dir, optimized_path, result.get("exported"), original)


def resolve_input(argument: str, batch_size: int = 1, sequence_length: Optional[int] = None,
                  symbolic_dims: Optional[Mapping[str, int]] = None) -> EvaluationInput:
    """Says what an argument is: a run directory, an .onnx file or a zoo name.

    Args:
        argument: the command-line argument.
        batch_size, sequence_length, symbolic_dims: how to load an .onnx file
            or zoo name (a run directory records its own).

    Raises:
        EvaluationInputError: none of the three, a run directory without
            result.json or optimized.onnx, or one whose original cannot be told.
    """
    path = os.path.abspath(argument)
    if os.path.isdir(path):
        return _input_from_run_dir(argument, path)
    if os.path.isfile(path):
        if not path.endswith(".onnx"):
            raise EvaluationInputError(f"{argument!r} is a file but not an .onnx model; expected a run directory, "
                                       "an .onnx file or a zoo model name")
        graph = os.path.splitext(os.path.basename(path))[0]
        return EvaluationInput(argument, graph, None, None, None, None,
                               original_model_fields(path, batch_size, None, symbolic_dims))
    if argument in zoo.names():
        return EvaluationInput(argument, argument, None, None, None, None,
                               original_model_fields(argument, batch_size, sequence_length))
    close = difflib.get_close_matches(argument, zoo.names(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise EvaluationInputError(f"{argument!r} is neither a run directory, an .onnx file nor a zoo model: no such file or "
                               f"directory{hint} (zoo models: {', '.join(zoo.names())})")


# Measuring ---------------------------------------------------------------------------------------

def _signature(model: onnx.ModelProto) -> tuple:
    """Input names, types and shapes (None: a symbolic dimension), and output names: what an optimized graph keeps."""
    def dims(value):
        return tuple(d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim)

    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = tuple((value.name, value.type.tensor_type.elem_type, dims(value)) for value in model.graph.input
                   if value.name not in initializers)
    return inputs, tuple(value.name for value in model.graph.output)


def _signatures_agree(original: tuple, optimized: tuple) -> bool:
    """Same inputs (name, type, rank, and sizes where the original's are fixed) and the same outputs.

    The engine binds an original's symbolic dimensions when it loads it, so
    the optimized graph has a size where the original has a name.
    """
    (original_inputs, original_outputs), (optimized_inputs, optimized_outputs) = original, optimized
    if original_outputs != optimized_outputs or len(original_inputs) != len(optimized_inputs):
        return False
    for (name, elem_type, dims), (other_name, other_type, other_dims) in zip(original_inputs, optimized_inputs):
        if (name, elem_type, len(dims)) != (other_name, other_type, len(other_dims)):
            return False
        if any(size is not None and size != other for size, other in zip(dims, other_dims)):
            return False
    return True


@dataclasses.dataclass
class _Group:
    """Inputs sharing one original: the original loaded once, and its optimized graphs."""

    loaded: LoadedModel
    original_path: str
    members: list  # of EvaluationInput
    candidates: list  # of EvaluationInput with an optimized graph, in input order


def _load_group(members: Sequence[EvaluationInput], work_dir: str, index: int, seed: int) -> _Group:
    first = members[0]
    where = first.run_dir or first.argument
    try:
        loaded = load_original_model(first.original_model, seed=seed)
    except OptimizeInputError as error:
        raise EvaluationInputError(f"cannot load the original model of {where!r}: {error}") from error
    if isinstance(loaded.original, onnx.ModelProto):
        # Both runtimes' children and to_tensorflow read a file; the zoo builds the model in memory.
        original_path = os.path.join(work_dir, f"original_{index}.onnx")
        onnx.save(loaded.original, original_path)
        original_proto = loaded.original
    else:
        original_path = loaded.original
        original_proto = onnx.load(original_path, load_external_data=False)
    expected = _signature(original_proto)
    candidates = [member for member in members if member.optimized_path is not None]
    for member in candidates:
        found = _signature(onnx.load(member.optimized_path, load_external_data=False))
        if not _signatures_agree(expected, found):
            raise EvaluationInputError(
                f"run directory {member.run_dir!r}: {OPTIMIZED_FILE} has inputs/outputs {found}, but its rebuilt original "
                f"{member.original_model['model']!r} has {expected}; the original cannot be told, re-run it")
    return _Group(loaded, original_path, list(members), candidates)


def _onnxruntime_runner(path: str) -> Callable[[Mapping[str, np.ndarray]], list]:
    session = create_timing_session(path)
    return lambda feeds: session.run(None, dict(feeds))


def _tensorflow_runner_factory() -> Callable[[str], Callable]:
    """rlgraph_xflow.graphs.to_tensorflow (issue 20, part 1), or an EvaluationInputError naming what is missing."""
    try:
        from rlgraph_xflow.graphs import to_tensorflow
    except ImportError as error:
        raise EvaluationInputError(f"--runtime tensorflow needs rlgraph_xflow.graphs.to_tensorflow (TensorFlow through "
                                   f"onnx-tf), which this installation lacks: {error}") from error
    return to_tensorflow


def _tensorflow_device() -> str:
    from rlgraph_xflow.tf_runtime import load_tensorflow

    return "GPU" if load_tensorflow().config.list_logical_devices("GPU") else "CPU"


def _runtime_name(runtime: str) -> str:
    """The runtime and device every figure of it is labelled with, e.g. "tensorflow CPU"."""
    return "onnxruntime CPU" if runtime == "onnxruntime" else f"tensorflow {_tensorflow_device()}"


def _timing_name(runtime: str) -> str:
    """What LatencyProtocol.describe puts first for a runtime."""
    if runtime == "onnxruntime":
        return ONNXRUNTIME_CPU_TIMING
    return f"{_runtime_name(runtime)} through onnx-tf, one process"


def _largest_difference(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> tuple[float, bool]:
    """(max |difference| over the outputs, whether they all match within OUTPUT_TOLERANCE)."""
    if len(reference) != len(outputs):
        return float("inf"), False
    largest, match = 0.0, True
    for expected, found in zip(reference, outputs):
        expected, found = np.asarray(expected), np.asarray(found)
        if expected.shape != found.shape:
            return float("inf"), False
        if expected.size:
            difference = np.abs(expected.astype(np.float64) - found.astype(np.float64))
            largest = max(largest, float(np.max(difference)))
        match = match and bool(np.allclose(found, expected, rtol=OUTPUT_TOLERANCE, atol=OUTPUT_TOLERANCE))
    return largest, match


def _figures(samples: LatencySamples, memory: PeakMemory) -> dict:
    rounds = samples.round_medians_ms
    return {"median_ms": samples.median_ms, "band_ms": [min(rounds), max(rounds)], "round_medians_ms": list(rounds),
            "peak_memory_mib": memory.peak_mib, "memory_measure": memory.measure, "rss_growth_mib": memory.rss_growth_mib}


def _measure_group(group: _Group, runtime: str, make_runner: Callable[[str], Callable], protocol: LatencyProtocol,
                   inputs_path: str, warn: Callable[[str], None]) -> dict:
    """Times and measures one group in one runtime; returns {input argument: that runtime's figures}."""
    feeds = group.loaded.feeds
    paths = [group.original_path] + [member.optimized_path for member in group.candidates]
    runners = []
    for path in paths:
        try:
            runners.append(make_runner(path))
        except Exception as error:  # onnxruntime's and onnx-tf's own exception types: the model does not load there
            raise EvaluationInputError(f"{path} does not load in {runtime}: {type(error).__name__}: {error}") from error
    reference = [np.asarray(value) for value in runners[0](feeds)]
    differences = []
    for member, runner in zip(group.candidates, runners[1:]):
        largest, match = _largest_difference(reference, [np.asarray(value) for value in runner(feeds)])
        differences.append(largest)
        if not match:
            message = (f"run directory {member.run_dir!r}: in {runtime} its {OPTIMIZED_FILE} computes other outputs than the "
                       f"rebuilt original {member.original_model['model']!r} (max |diff| {largest:.3g}, tolerance {OUTPUT_TOLERANCE:g})")
            if runtime == "onnxruntime":
                raise EvaluationInputError(message + "; the original cannot be told, re-run it")
            warn(message)
    samples = time_sessions([lambda runner=runner: runner(feeds) for runner in runners], protocol)
    del runners, reference
    gc.collect()
    memories = [measure_peak_memory(path, inputs_path, runtime, runs=MEMORY_RUNS) for path in paths]
    original = _figures(samples[0], memories[0])
    figures = {}
    for member in group.members:
        figures[member.argument] = {"original": original, "optimized": None, "latency_change": None, "latency_noise": None,
                                    "latency_verdict": None, "runtime_improvement": None, "memory_change": None,
                                    "max_abs_diff": None}
    for index, member in enumerate(group.candidates, start=1):
        comparison = compare_latencies(samples[0], samples[index], protocol.min_noise)
        optimized = _figures(samples[index], memories[index])
        memory_change = optimized["peak_memory_mib"] / original["peak_memory_mib"] - 1 if original["peak_memory_mib"] > 0 else None
        figures[member.argument].update(optimized=optimized, latency_change=comparison.change, latency_noise=comparison.noise,
                                        latency_verdict=comparison.verdict, runtime_improvement=-comparison.change,
                                        memory_change=memory_change, max_abs_diff=differences[index - 1])
    return figures


# Writing -----------------------------------------------------------------------------------------

def _row_label(entry: Mapping[str, Any]) -> str:
    return f"{entry['graph']} {entry['method']}" if entry["method"] else f"{entry['graph']} (original only)"


def _memory_text(figures: Mapping[str, Any]) -> str:
    return f"{figures['peak_memory_mib']:.1f} MiB"


def _summary_lines(document: Mapping[str, Any]) -> list[str]:
    """The command's printed lines: per runtime its protocol, then one line per input."""
    lines = []
    for runtime, header in document["runtimes"].items():
        lines.append(f"{header['name']}: timed with {header['protocol']}; memory: {', '.join(header['memory_measures'])}")
        for entry in document["entries"]:
            figures = entry["runtimes"][runtime]
            original, optimized = figures["original"], figures["optimized"]
            if optimized is None:
                low, high = original["band_ms"]
                lines.append(f"{_row_label(entry)}: {header['name']} latency {original['median_ms']:.3f} ms "
                             f"(round medians {low:.3f}-{high:.3f} ms); peak memory {_memory_text(original)}")
                continue
            latency = latency_line(original["median_ms"], optimized["median_ms"], figures["latency_change"],
                                   figures["latency_noise"], figures["latency_verdict"], runtime=header["name"])
            memory_change = "" if figures["memory_change"] is None else f" ({100 * figures['memory_change']:+.1f}%)"
            exported = "; the run exported its original graph" if entry["exported"] == "original" else ""
            lines.append(f"{_row_label(entry)}: {latency}; peak memory {_memory_text(original)} -> "
                         f"{_memory_text(optimized)}{memory_change}{exported}")
    return lines


def _markdown(document: Mapping[str, Any], charts: Mapping[str, str]) -> str:
    lines = ["# Evaluation: optimized graphs against their originals, measured", ""]
    inputs = ", ".join(f"`{entry['input']}`" for entry in document["entries"])
    lines += [f"Inputs: {inputs}.", ""]
    lines += ["Latency: the median of round medians, with the range of the round medians; the change is the median of "
              "the per-round ratios optimized / original minus 1, ± its noise band, and the verdict is `faster`, `same` "
              "or `slower` beyond the band (rlgraph_xflow/graphs/latency.py). Peak memory: measured per model in a "
              "child process of its own (rlgraph_xflow/graphs/peak_memory.py).", ""]
    for runtime, header in document["runtimes"].items():
        lines += [f"## {header['name']}", "", f"Timing: {header['protocol']}.", "",
                  f"Memory: {'; '.join(header['memory_measures'])}, in MiB.", "",
                  "| graph | method | original ms (round medians) | optimized ms (round medians) | runtime change ± noise "
                  "| verdict | original memory (MiB) | optimized memory (MiB) | memory change |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for entry in document["entries"]:
            figures = entry["runtimes"][runtime]
            original, optimized = figures["original"], figures["optimized"]
            original_text = f"{original['median_ms']:.3f} ({original['band_ms'][0]:.3f}-{original['band_ms'][1]:.3f})"
            if optimized is None:
                lines.append(f"| {entry['graph']} | (original only) | {original_text} | | | | {original['peak_memory_mib']:.1f} | | |")
                continue
            method = entry["method"] + (" (exported the original)" if entry["exported"] == "original" else "")
            memory_change = "" if figures["memory_change"] is None else f"{100 * figures['memory_change']:+.1f}%"
            lines.append(f"| {entry['graph']} | {method} | {original_text} | {optimized['median_ms']:.3f} "
                         f"({optimized['band_ms'][0]:.3f}-{optimized['band_ms'][1]:.3f}) | "
                         f"{100 * figures['latency_change']:+.1f}% ± {100 * figures['latency_noise']:.1f}% | "
                         f"{figures['latency_verdict']} | {original['peak_memory_mib']:.1f} | {optimized['peak_memory_mib']:.1f} | "
                         f"{memory_change} |")
        lines.append("")
        if runtime in charts:
            lines += [f"![relative runtime improvement in {header['name']}]({charts[runtime]})", ""]
        else:
            lines += ["No chart: no input has an optimized graph.", ""]
    return "\n".join(lines)


def _write_text(path: str, text: str) -> None:
    write_atomically(path, lambda stream: stream.write(text), encoding="utf-8")


def _prepare_output_folder(out_dir: str) -> str:
    try:
        return writable_folder(out_dir, "evaluation.json, evaluation.md and the charts")
    except OutputFolderError as error:
        raise EvaluationInputError(str(error)) from error


def _checked_runtimes(runtimes: Sequence[str]) -> list[str]:
    if isinstance(runtimes, str) or not runtimes:
        raise EvaluationInputError(f"runtimes must be a non-empty list drawn from {list(RUNTIMES)}, found {runtimes!r}")
    for runtime in runtimes:
        if runtime not in RUNTIMES:
            raise EvaluationInputError(f"unknown runtime {runtime!r}; expected one of {list(RUNTIMES)} (or both)")
    return list(dict.fromkeys(runtimes))


def evaluate_graphs(inputs: Sequence[EvaluationInput], out_dir: str | os.PathLike, runtimes: Sequence[str] = ("onnxruntime",),
                    protocol: Optional[LatencyProtocol] = None, seed: int = 0,
                    warn: Callable[[str], None] = lambda message: print(f"warning: {message}", file=sys.stderr)) -> dict:
    """Measures every input in each runtime; writes evaluation.json, evaluation.md and a chart per runtime.

    Args:
        inputs: from resolve_input (at least one).
        out_dir: the folder to write into (created if missing).
        runtimes: drawn from RUNTIMES.
        protocol: the timing protocol (default LatencyProtocol(); at least 3 rounds).
        seed: seed of the random inputs every model runs on.
        warn: called with a line for each warning (an optimized graph whose
            TensorFlow outputs differ from the original's).

    Returns:
        evaluation.json's content: `protocol` (its settings), `runtimes`
        (runtime -> name, protocol line, memory measures, chart file or
        null), `entries` (one per input: input, graph, method, run_dir,
        optimized_onnx, exported, original_model, and per runtime the
        original's and the optimized graph's median_ms, band_ms,
        round_medians_ms, peak_memory_mib, memory_measure, then
        latency_change, latency_noise, latency_verdict, runtime_improvement
        (= -latency_change), memory_change, max_abs_diff) and `lines`, the
        printed summary.

    Raises:
        EvaluationInputError: no inputs, a bad runtime, protocol or output
            folder, an original that cannot be loaded, or an optimized graph
            whose onnxruntime outputs differ from the rebuilt original's.
    """
    runtimes = _checked_runtimes(runtimes)
    protocol = LatencyProtocol() if protocol is None else protocol
    if not isinstance(protocol, LatencyProtocol) or protocol.rounds < MIN_LATENCY_ROUNDS:
        raise EvaluationInputError(f"the latency protocol must be a LatencyProtocol with at least {MIN_LATENCY_ROUNDS} rounds "
                                   f"(the noise band is their spread), found {protocol!r}")
    if not inputs or not all(isinstance(entry, EvaluationInput) for entry in inputs):
        raise EvaluationInputError(f"expected at least one EvaluationInput, found {inputs!r}")
    arguments = [entry.argument for entry in inputs]
    repeated = sorted({argument for argument in arguments if arguments.count(argument) > 1})
    if repeated:
        raise EvaluationInputError(f"input {repeated[0]!r} is given more than once; give each input once")
    makers = {"onnxruntime": _onnxruntime_runner}
    if "tensorflow" in runtimes:
        makers["tensorflow"] = _tensorflow_runner_factory()
    by_original: dict[str, list] = {}
    for entry in inputs:
        by_original.setdefault(entry.original_key, []).append(entry)
    figures: dict[str, dict] = {entry.argument: {} for entry in inputs}
    headers = {}
    with tempfile.TemporaryDirectory(prefix="evaluate-") as work_dir:
        groups = [_load_group(members, work_dir, index, seed) for index, members in enumerate(by_original.values())]
        folder = _prepare_output_folder(out_dir)
        inputs_paths = [os.path.join(work_dir, f"inputs_{index}.npz") for index in range(len(groups))]
        for group, inputs_path in zip(groups, inputs_paths):
            np.savez(inputs_path, **group.loaded.feeds)
        for runtime in runtimes:
            measures = []
            for group, inputs_path in zip(groups, inputs_paths):
                for argument, runtime_figures in _measure_group(group, runtime, makers[runtime], protocol, inputs_path, warn).items():
                    figures[argument][runtime] = runtime_figures
                    for side in ("original", "optimized"):
                        if runtime_figures[side] is not None:
                            measures.append(runtime_figures[side]["memory_measure"])
            headers[runtime] = {"name": _runtime_name(runtime), "protocol": protocol.describe(_timing_name(runtime)),
                                "memory_measures": list(dict.fromkeys(measures)), "chart": None}
    entries = [{"input": entry.argument, "graph": entry.graph, "method": entry.method, "run_dir": entry.run_dir,
                "optimized_onnx": entry.optimized_path, "exported": entry.exported, "original_model": entry.original_model,
                "runtimes": figures[entry.argument]} for entry in inputs]
    charts = {}
    for runtime, header in headers.items():
        bars = [ImprovementBar(entry["graph"], _bar_method(entry, entries), entry["runtimes"][runtime]["runtime_improvement"],
                               entry["runtimes"][runtime]["latency_noise"], entry["runtimes"][runtime]["latency_verdict"])
                for entry in entries if entry["method"] is not None]
        if bars:
            charts[runtime] = header["chart"] = chart_file(runtime)
            plot_runtime_improvement(os.path.join(folder, charts[runtime]), bars, runtime=header["name"], protocol=header["protocol"])
    document = {"protocol": protocol.to_dict(), "runtimes": headers, "entries": entries}
    document["lines"] = _summary_lines(document)
    _write_text(os.path.join(folder, EVALUATION_JSON), json.dumps(document, indent=2) + "\n")
    _write_text(os.path.join(folder, EVALUATION_MD), _markdown(document, charts))
    return document


def _bar_method(entry: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> str:
    """The method, with the run directory's name when the same graph has the method twice (two seeds, say)."""
    twins = [other for other in entries if other["graph"] == entry["graph"] and other["method"] == entry["method"]]
    return entry["method"] if len(twins) == 1 else f"{entry['method']} ({os.path.basename(entry['run_dir'])})"


# The command -------------------------------------------------------------------------------------

class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `error:` line (exit 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} (see {self.prog} --help)\n")


def _positive_int(option: str):
    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{option} expects an integer >= 1, found {text!r}")
        return int(text)
    return parse


def _parse_dims(pairs: Sequence[str]) -> dict[str, int]:
    dims = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name or not value.strip().isdigit() or int(value) < 1:
            raise EvaluationInputError(f"--dim expects NAME=POSITIVE_INT, found {pair!r}")
        dims[name] = int(value)
    return dims


def _parse_arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = _ArgumentParser(prog="python -m rlgraph_xflow.evaluate",
                             description="Measure optimized graphs against their originals: real latency (median, noise band, "
                                         "verdict) and peak memory, in onnxruntime and/or TensorFlow.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="a run directory (of python -m rlgraph_xflow.run or .optimize), an .onnx file or a zoo model name; "
                             "a file or zoo name is measured alone")
    parser.add_argument("--runtime", default="onnxruntime", choices=(*RUNTIMES, "both"))
    parser.add_argument("--out", required=True, help="folder for evaluation.json, evaluation.md and the charts")
    parser.add_argument("--latency-rounds", type=_positive_int("--latency-rounds"), default=LatencyProtocol().rounds,
                        help=f"alternating timing rounds (>= {MIN_LATENCY_ROUNDS}; the noise band is their spread)")
    parser.add_argument("--latency-runs-per-round", type=_positive_int("--latency-runs-per-round"),
                        default=LatencyProtocol().runs_per_round, help="timed runs of each model per round")
    parser.add_argument("--batch-size", type=_positive_int("--batch-size"), default=1, help="for .onnx files and zoo names")
    parser.add_argument("--sequence-length", type=_positive_int("--sequence-length"), default=None, help="for the zoo name bert_base")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="a symbolic dimension of an .onnx file's input")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command; returns its exit status (0 measured, 1 a measurement failed, 2 bad input)."""
    arguments = _parse_arguments(argv)
    runtimes = list(RUNTIMES) if arguments.runtime == "both" else [arguments.runtime]
    try:
        if arguments.latency_rounds < MIN_LATENCY_ROUNDS:
            raise EvaluationInputError(f"--latency-rounds must be an int >= {MIN_LATENCY_ROUNDS} (the noise band is their "
                                       f"spread), found {arguments.latency_rounds}")
        symbolic_dims = _parse_dims(arguments.dim)
        inputs = [resolve_input(argument, arguments.batch_size, arguments.sequence_length, symbolic_dims)
                  for argument in arguments.inputs]
        protocol = LatencyProtocol(rounds=arguments.latency_rounds, runs_per_round=arguments.latency_runs_per_round)
        document = evaluate_graphs(inputs, arguments.out, runtimes, protocol, seed=arguments.seed)
    except EvaluationInputError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_USER_ERROR
    except RuntimeError as error:  # a memory-measuring child process failed (killed for memory, say)
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_MEASUREMENT_FAILED
    for line in document["lines"]:
        print(line)
    written = [EVALUATION_JSON, EVALUATION_MD] + [header["chart"] for header in document["runtimes"].values() if header["chart"]]
    print(f"wrote {', '.join(os.path.join(arguments.out, name) for name in written)}")
    return 0
