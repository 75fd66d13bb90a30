"""Running ONNX models in onnxruntime on the CPU, and timing them.

Holds:
  import_onnxruntime: imports onnxruntime without letting it write to $HOME.
  create_cpu_session: an InferenceSession on CPUExecutionProvider with every
    graph optimisation on, from a ModelProto, serialized bytes or a file path
    (optionally with session config entries).
  median_latency_ms: the median wall time of one call after warm-up (timing
    one model alone; comparing models is `latency.py`'s job).
  numpy_dtype: the numpy dtype for an onnxruntime type string ("tensor(float)").

onnxruntime 1.2x+ writes a telemetry device id under
~/.cache/Microsoft/DeveloperTools on import unless ORT_DISABLE_TELEMETRY is
set; the project promises not to write to $HOME, so onnxruntime is imported
here, lazily, with that variable defaulted to "1" (a caller's own setting wins).
"""
from __future__ import annotations

import os
import statistics
import time
from types import ModuleType
from typing import Callable, Mapping

import numpy as np
import onnx

from rlgraph_xflow.core.validation import is_int

_ONNXRUNTIME_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def import_onnxruntime() -> ModuleType:
    """Imports onnxruntime with its telemetry (and so its $HOME writes) off by default."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def numpy_dtype(onnxruntime_type: str, where: str) -> type:
    """Maps an onnxruntime type string to a numpy dtype.

    Args:
        onnxruntime_type: e.g. "tensor(float)".
        where: what carries the type, for the error message.

    Raises:
        ValueError: a type this project does not feed (strings, sequences...).
    """
    if onnxruntime_type not in _ONNXRUNTIME_TYPES:
        raise ValueError(f"{where}: type {onnxruntime_type} is not supported; expected one of {sorted(_ONNXRUNTIME_TYPES)}")
    return _ONNXRUNTIME_TYPES[onnxruntime_type]


def create_cpu_session(model: onnx.ModelProto | bytes | str | os.PathLike, config_entries: Mapping[str, str] | None = None):
    """Creates an onnxruntime InferenceSession on the CPU with ORT_ENABLE_ALL.

    Args:
        model: a ModelProto, its serialized bytes, or a path to an .onnx file
            (a path also finds external weight files next to it).
        config_entries: session config entries (`SessionOptions.add_session_config_entry`),
            e.g. {"session.intra_op.allow_spinning": "0"}.

    Returns:
        onnxruntime.InferenceSession.
    """
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    for key, value in (config_entries or {}).items():
        options.add_session_config_entry(key, value)
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    elif isinstance(model, os.PathLike):
        model = os.fspath(model)
    return onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def median_latency_ms(call: Callable[[], object], runs: int, warmup: int) -> float:
    """Median milliseconds of `runs` timed calls of `call` after `warmup` untimed ones.

    Args:
        call: a call with no arguments, e.g. `lambda: session.run(None, feeds)`.
        runs: number of timed calls (at least 1).
        warmup: number of untimed calls first (at least 0): the first runs pay
            for memory-arena growth and kernel selection.

    Raises:
        ValueError: runs < 1 or warmup < 0.
    """
    if not is_int(runs) or runs < 1:
        raise ValueError(f"runs must be an int >= 1, found {runs!r}")
    if not is_int(warmup) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, found {warmup!r}")
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        timings.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(timings)
