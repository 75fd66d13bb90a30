"""Peak memory of loading and running a model, measured in a child process of its own.

Holds:
  MEMORY_RUNTIMES: the runtimes a model can be measured in ("onnxruntime", "tensorflow").
  PeakMemory: one measurement: the figure (MiB), which measure it is, and
    the child process's own figures.
  measure_peak_memory: starts a child process that loads an .onnx file in a
    runtime and runs it on saved inputs; returns its PeakMemory.
  main: the child's entry point (`python -m rlgraph_xflow.graphs.peak_memory`).

Why a child per model: a process's peak RSS only grows, every runtime keeps
arenas and caches after a model is gone, and two models in one process share
them, so the second model's figure would depend on the first. A fresh process
per model measures each from the same start.

What is measured. The child first imports the runtime (and, for TensorFlow,
initialises its devices), loads and runs a one-Relu model in it (the
runtime's one-time set-up on a first model: kernel registries, thread pools,
onnx-tf's handlers) and reads the inputs, so none of that counts. It
then resets the kernel's record of its peak RSS to the current RSS (writing
"5" to /proc/self/clear_refs, Linux 4.0 and later), notes that RSS, loads the
model (an onnxruntime timing session from the file, or
rlgraph_xflow.graphs.to_tensorflow's runner), runs it `runs` times and reads
the peak RSS (VmHWM in /proc/self/status). The figure is the peak minus the
start: the weights as the runtime holds them, its arenas and pre-packed
kernels, a run's activations (for TensorFlow also the converted graph and the
traced function): what running the model adds to a process at its worst
moment. Where the peak cannot be reset, the start is the peak so far
(getrusage's ru_maxrss) and the figure is the growth of the peak, which
misses whatever the model reuses below an earlier, higher peak; `measure`
says which was taken.

TensorFlow's own allocator reports a peak (tf.config.experimental.get_memory_info)
only for GPU devices; for the CPU it raises ValueError. So on a machine where
TensorFlow runs the model on a GPU the figure is that allocator peak
(measure "tensorflow allocator peak on GPU:0", the device's memory, with the
host RSS growth beside it in `rss_growth_mib`), and on a CPU it is the RSS
growth like onnxruntime's.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
from typing import Optional, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper

from rlgraph_xflow.graphs.latency import create_timing_session

__all__ = ["MEMORY_RUNTIMES", "PeakMemory", "main", "measure_peak_memory"]

MEMORY_RUNTIMES = ("onnxruntime", "tensorflow")
RSS_GROWTH = "process peak RSS growth (peak reset at the start)"
RSS_PEAK_GROWTH = "process peak RSS growth (ru_maxrss; the peak could not be reset)"
_MIB = 1024 * 1024
# The child's report is the last line of its stdout, after this marker (a runtime may print lines of its own).
_REPORT_MARKER = "peak_memory_report: "


@dataclasses.dataclass(frozen=True)
class PeakMemory:
    """A model's peak memory in a runtime.

    Attributes:
        peak_mib: the figure, in MiB (2^20 bytes): TensorFlow's allocator peak
            where it is defined, else the process's peak RSS growth.
        measure: which figure peak_mib is (RSS_GROWTH, RSS_PEAK_GROWTH, or
            "tensorflow allocator peak on DEVICE").
        rss_growth_mib: the process's peak RSS minus its RSS before loading, in MiB.
        start_rss_mib: the child's RSS before loading the model (runtime
            imported, inputs read), in MiB.
        runs: how many times the model ran.
    """

    peak_mib: float
    measure: str
    rss_growth_mib: float
    start_rss_mib: float
    runs: int

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


def measure_peak_memory(model_path: str | os.PathLike, inputs_path: str | os.PathLike, runtime: str, runs: int = 3,
                        timeout_seconds: float = 1800.0) -> PeakMemory:
    """Loads and runs a model in a fresh child process; returns its peak memory.

    Args:
        model_path: the .onnx file.
        inputs_path: an .npz file of the model's inputs (input name -> array),
            as numpy.savez writes it.
        runtime: one of MEMORY_RUNTIMES.
        runs: how many times the child runs the model (>= 1): the first run
            grows the arenas, later ones show whether they keep growing.
        timeout_seconds: how long the child may take.

    Returns:
        PeakMemory.

    Raises:
        ValueError: an unknown runtime, runs < 1, or a file that does not exist.
        RuntimeError: the child failed (its last stderr lines are in the message).
    """
    if runtime not in MEMORY_RUNTIMES:
        raise ValueError(f"measure_peak_memory: runtime must be one of {list(MEMORY_RUNTIMES)}, found {runtime!r}")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"measure_peak_memory: runs must be an int >= 1, found {runs!r}")
    for label, path in (("model", model_path), ("inputs", inputs_path)):
        if not os.path.isfile(path):
            raise ValueError(f"measure_peak_memory: the {label} file {os.fspath(path)!r} does not exist")
    command = [sys.executable, "-m", "rlgraph_xflow.graphs.peak_memory", "--runtime", runtime,
               "--model", os.fspath(model_path), "--inputs", os.fspath(inputs_path), "--runs", str(runs)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds, env=environment)
    reports = [line[len(_REPORT_MARKER):] for line in completed.stdout.splitlines() if line.startswith(_REPORT_MARKER)]
    if completed.returncode != 0 or not reports:
        tail = " | ".join(completed.stderr.strip().splitlines()[-5:]) or "(no output)"
        raise RuntimeError(f"measuring the peak memory of {os.fspath(model_path)!r} in {runtime} failed "
                           f"(exit status {completed.returncode}): {tail}")
    return PeakMemory(**json.loads(reports[-1]))


def _status_kib(field: str) -> Optional[int]:
    """A `FIELD:  N kB` line of /proc/self/status, in KiB; None where there is no such file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Sets the kernel's peak-RSS record to the current RSS; False where this kernel cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _max_rss_kib() -> int:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value


def _onnxruntime_runner(model: str | onnx.ModelProto):
    session = create_timing_session(model)
    return lambda feeds: session.run(None, feeds)


def _one_relu_model() -> onnx.ModelProto:
    """The smallest model worth running: it makes a runtime do its one-time set-up before the measurement."""
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "one_relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _tensorflow_allocator_device(tf) -> Optional[str]:
    """The device whose allocator peak TensorFlow reports, or None on a CPU (where get_memory_info raises)."""
    for device in tf.config.list_logical_devices("GPU")[:1]:
        name = device.name.replace("/device:", "")
        try:
            tf.config.experimental.reset_memory_stats(name)
            tf.config.experimental.get_memory_info(name)
            return name
        except (ValueError, RuntimeError):
            return None
    return None


def _measure_in_this_process(runtime: str, model_path: str, inputs_path: str, runs: int) -> dict:
    """The child's work: see the module docstring. Returns PeakMemory's fields."""
    allocator_device, tf = None, None
    if runtime == "tensorflow":
        from rlgraph_xflow.graphs import to_tensorflow
        from rlgraph_xflow.tf_runtime import load_tensorflow

        tf = load_tensorflow()
        allocator_device = _tensorflow_allocator_device(tf)
        make_runner = to_tensorflow
    else:
        make_runner = _onnxruntime_runner
    make_runner(_one_relu_model())({"x": np.ones((1, 4), np.float32)})
    with np.load(inputs_path) as saved:
        feeds = {name: saved[name] for name in saved.files}
    reset = _reset_peak_rss()
    start_kib = _status_kib("VmRSS") if reset else _max_rss_kib()
    if start_kib is None:  # clear_refs without /proc/self/status: not a kernel this was written for
        reset, start_kib = False, _max_rss_kib()
    runner = make_runner(model_path)
    for _ in range(runs):
        runner(feeds)
    peak_kib = (_status_kib("VmHWM") if reset else None) or _max_rss_kib()
    rss_growth_mib = max(0, peak_kib - start_kib) / 1024
    fields = {"rss_growth_mib": rss_growth_mib, "start_rss_mib": start_kib / 1024, "runs": runs,
              "peak_mib": rss_growth_mib, "measure": RSS_GROWTH if reset else RSS_PEAK_GROWTH}
    if allocator_device is not None:
        fields["peak_mib"] = tf.config.experimental.get_memory_info(allocator_device)["peak"] / _MIB
        fields["measure"] = f"tensorflow allocator peak on {allocator_device}"
    return fields


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The child process: measures one model and prints its report as the last stdout line."""
    parser = argparse.ArgumentParser(prog="python -m rlgraph_xflow.graphs.peak_memory",
                                     description="Peak memory of loading and running one .onnx model (used by measure_peak_memory).")
    parser.add_argument("--runtime", required=True, choices=MEMORY_RUNTIMES)
    parser.add_argument("--model", required=True)
    parser.add_argument("--inputs", required=True, help="an .npz file of input name -> array")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args(argv)
    fields = _measure_in_this_process(arguments.runtime, arguments.model, arguments.inputs, arguments.runs)
    print(_REPORT_MARKER + json.dumps(fields), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
