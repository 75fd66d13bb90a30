"""Real latency: a noise-robust timing protocol, onnxruntime's timing sessions, and a verdict on two models.

Holds:
  LatencyProtocol: how models are timed (alternating rounds, runs per round,
    warm-up, the floor of the noise band); `describe(runtime)` is the one
    line a result quotes (the runtime defaults to ONNXRUNTIME_CPU_TIMING).
  create_timing_session: an onnxruntime CPU session for timing (ORT_ENABLE_ALL,
    intra- and inter-op spinning off).
  LatencySamples: one model's per-round median latencies; `median_ms` is
    their median.
  time_sessions: times several calls under a protocol, alternating them
    round by round; any runtime's calls (onnxruntime sessions, TensorFlow
    functions: rlgraph_xflow.runs.graph_evaluation times both).
  time_models: the same for ONNX models on given inputs.
  LatencyComparison, compare_latencies: a candidate's latency against an
    original's: the change, its noise band and the verdict.
  latency_line: the one-line text of a comparison, as the CLIs and
    report.md put it first (naming the runtime, onnxruntime CPU by default).
  VERDICTS: "faster", "same", "slower".

The protocol. Every model gets its own session with spinning off: after a run,
onnxruntime's intra-op threads otherwise spin-wait for the next one, and on a
machine with few cores they then compete with the other model's run (on 2
cores squeezenet1_1 measured 3.98 ms timed in turns with another session,
2.34 ms alone). Each model first runs `warmup` untimed times (memory arenas,
kernel selection). Then `rounds` rounds follow; in a round each model runs
`runs_per_round` times back to back and the round's figure is the median of
those runs. The order of the models rotates by one each round (with two
models: A B, B A, A B, ...), so neither always runs first after the other,
and a slow spell of the machine lands on both models of a round alike. A
model's latency is the median of its round medians.

The noise band. A round gives one ratio, candidate / original, of two figures
taken moments apart; the change is the median of these ratios minus 1 (a
fraction of the original's latency, negative when the candidate is faster).
The band runs from the smallest round ratio to the largest (a distribution-free
interval for the median ratio: with 7 rounds it misses the true median with
probability 2 / 2^7, under 2%), widened to at least `min_noise` on each side
of the change. `noise` is the band's half-width on the side of zero change,
i.e. the distance from the change to the band's edge nearer to "no change":
with a change above zero, change minus the smallest round ratio's change (a
candidate slower in every round but one, which was faster, gets a band that
reaches below zero); below zero, the largest's. So "slower" (change > noise)
means every round saw the candidate slower and the median moved by more than
the floor; "faster" (change < -noise) the same the other way; anything else is
"same". A round that a disturbance pushes towards "no change" or past it
widens the band, which errs towards "same"; one pushed further away from it
(a slow spell that hit only the slower model) does not turn a clear verdict
into "same".

Example:
    >>> protocol = LatencyProtocol()
    >>> original, candidate = time_models(["original.onnx", "optimized.onnx"], feeds, protocol)
    >>> compare_latencies(original, candidate, protocol.min_noise).verdict
    'same'
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import statistics
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import onnx

from rlgraph_xflow.core.validation import is_instance_not_bool
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session

__all__ = [
    "ONNXRUNTIME_CPU_TIMING",
    "VERDICTS",
    "LatencyComparison",
    "LatencyProtocol",
    "LatencySamples",
    "compare_latencies",
    "create_timing_session",
    "latency_line",
    "time_models",
    "time_sessions",
]

VERDICTS = ("faster", "same", "slower")
# What `describe` and `latency_line` name by default: the sessions create_timing_session makes.
ONNXRUNTIME_CPU_TIMING = "onnxruntime CPU, spinning off"

# Session settings that stop onnxruntime's thread pools from spin-waiting between runs.
_NO_SPINNING = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def _check_int(owner: str, name: str, value, minimum: int) -> None:
    if not is_instance_not_bool(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, found {value!r}")


def _check_fraction(owner: str, name: str, value) -> None:
    if not is_instance_not_bool(value, numbers.Real) or not (0 <= value < 1):
        raise ValueError(f"{owner}: {name} must be a number in [0, 1) (a fraction of the original latency), found {value!r}")


@dataclasses.dataclass(frozen=True)
class LatencyProtocol:
    """How models are timed.

    Attributes:
        rounds: alternating rounds (>= 1); the noise band comes from the
            spread of the rounds, so use at least 5 for a verdict worth reading.
        runs_per_round: timed runs of each model in a round (>= 1); the
            round's figure is their median.
        warmup: untimed runs of each model before the first round (>= 0).
        min_noise: floor of the relative noise band, in [0, 1): changes
            smaller than this are "same" however steady the machine was.
    """

    rounds: int = 7
    runs_per_round: int = 10
    warmup: int = 5
    min_noise: float = 0.02

    def __post_init__(self) -> None:
        _check_int("LatencyProtocol", "rounds", self.rounds, 1)
        _check_int("LatencyProtocol", "runs_per_round", self.runs_per_round, 1)
        _check_int("LatencyProtocol", "warmup", self.warmup, 0)
        _check_fraction("LatencyProtocol", "min_noise", self.min_noise)

    @classmethod
    def fast(cls) -> "LatencyProtocol":
        """A cheap protocol for tests: 3 rounds of 3 runs after 1 warm-up run."""
        return cls(rounds=3, runs_per_round=3, warmup=1)

    def describe(self, runtime: str = ONNXRUNTIME_CPU_TIMING) -> str:
        """One line naming the runtime and the protocol, e.g. for result.json and report.md.

        Args:
            runtime: how the models ran, first on the line (default: onnxruntime
                CPU sessions with spinning off, as create_timing_session makes
                them); e.g. "tensorflow CPU" for another runtime's runners.
        """
        return (f"{runtime}, {self.rounds} alternating round{'s' if self.rounds != 1 else ''} x "
                f"{self.runs_per_round} run{'s' if self.runs_per_round != 1 else ''} after {self.warmup} warm-up, "
                f"median of round medians, noise floor {100 * self.min_noise:g}%")

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict."""
        return dataclasses.asdict(self)


def create_timing_session(model: onnx.ModelProto | bytes | str | os.PathLike):
    """An onnxruntime session for timing: CPUExecutionProvider, ORT_ENABLE_ALL, spinning off.

    Args:
        model: a ModelProto, its serialized bytes, or a path to an .onnx file.

    Returns:
        onnxruntime.InferenceSession.
    """
    return create_cpu_session(model, config_entries=_NO_SPINNING)


@dataclasses.dataclass(frozen=True)
class LatencySamples:
    """One model's timings under a protocol.

    Attributes:
        round_medians_ms: the median latency of each round, in milliseconds
            (> 0), in round order.
    """

    round_medians_ms: tuple[float, ...]

    def __post_init__(self) -> None:
        values = self.round_medians_ms
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"LatencySamples: round_medians_ms must be a non-empty sequence of milliseconds, found {values!r}")
        for index, value in enumerate(values):
            if not is_instance_not_bool(value, numbers.Real) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"LatencySamples: round_medians_ms[{index}] must be a finite number > 0, found {value!r}")
        object.__setattr__(self, "round_medians_ms", tuple(float(value) for value in values))

    @property
    def median_ms(self) -> float:
        """The median of the round medians, in milliseconds."""
        return statistics.median(self.round_medians_ms)


def _check_protocol(where: str, protocol) -> None:
    if not isinstance(protocol, LatencyProtocol):
        raise ValueError(f"{where}: protocol must be a LatencyProtocol, found {type(protocol).__name__} {protocol!r}")


def time_sessions(calls: Sequence[Callable[[], object]], protocol: LatencyProtocol) -> list[LatencySamples]:
    """Times calls under the protocol, alternating them round by round.

    Each call first runs `protocol.warmup` times untimed. In round k the calls
    take turns starting from call k mod n (a rotation; with two calls the
    order alternates), each running `protocol.runs_per_round` times back to
    back, timed with time.perf_counter_ns.

    Args:
        calls: calls with no arguments, e.g. `lambda: session.run(None, feeds)`.
        protocol: the timing protocol.

    Returns:
        One LatencySamples per call, in the order given.

    Raises:
        ValueError: no calls, a call that is not callable, or a protocol that
            is not a LatencyProtocol.
    """
    if isinstance(calls, (str, bytes)) or not isinstance(calls, Sequence) or not calls:
        raise ValueError(f"time_sessions: calls must be a non-empty sequence of callables, found {calls!r}")
    for index, call in enumerate(calls):
        if not callable(call):
            raise ValueError(f"time_sessions: calls[{index}] must be callable, found {type(call).__name__} {call!r}")
    _check_protocol("time_sessions", protocol)
    for call in calls:
        for _ in range(protocol.warmup):
            call()
    round_medians: list[list[float]] = [[] for _ in calls]
    for round_index in range(protocol.rounds):
        for offset in range(len(calls)):
            index = (round_index + offset) % len(calls)
            call = calls[index]
            timings = []
            for _ in range(protocol.runs_per_round):
                start = time.perf_counter_ns()
                call()
                timings.append((time.perf_counter_ns() - start) / 1e6)
            # A clock tick of 0 ns is possible for a trivial call; a latency is positive.
            round_medians[index].append(max(statistics.median(timings), 1e-6))
    return [LatencySamples(tuple(medians)) for medians in round_medians]


def time_models(
    models: Sequence[onnx.ModelProto | str | os.PathLike],
    feeds: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]],
    protocol: LatencyProtocol,
) -> list[LatencySamples]:
    """Times ONNX models in onnxruntime under the protocol (see `time_sessions`).

    Args:
        models: ModelProtos or paths to .onnx files.
        feeds: the inputs of every model (name -> array), or one such mapping per model.
        protocol: the timing protocol.

    Returns:
        One LatencySamples per model, in the order given.

    Raises:
        ValueError: no models, a model that is neither a ModelProto nor a
            path, feeds that are neither one mapping nor one per model, or a
            bad protocol.
    """
    if isinstance(models, (str, bytes, os.PathLike, onnx.ModelProto)) or not isinstance(models, Sequence) or not models:
        raise ValueError(f"time_models: models must be a non-empty sequence of ModelProtos or paths, found {type(models).__name__}")
    for index, model in enumerate(models):
        if not isinstance(model, (onnx.ModelProto, str, os.PathLike)):
            raise ValueError(f"time_models: models[{index}] must be an onnx.ModelProto or a path, found {type(model).__name__}")
    if isinstance(feeds, Mapping):
        per_model = [feeds] * len(models)
    elif isinstance(feeds, Sequence) and not isinstance(feeds, (str, bytes)) and len(feeds) == len(models) \
            and all(isinstance(entry, Mapping) for entry in feeds):
        per_model = list(feeds)
    else:
        raise ValueError(f"time_models: feeds must be one mapping of input name -> array, or one per model "
                         f"({len(models)}), found {type(feeds).__name__}")
    _check_protocol("time_models", protocol)
    sessions = [create_timing_session(model) for model in models]
    calls = [lambda session=session, model_feeds=model_feeds: session.run(None, model_feeds)
             for session, model_feeds in zip(sessions, per_model)]
    return time_sessions(calls, protocol)


@dataclasses.dataclass(frozen=True)
class LatencyComparison:
    """A candidate's latency against the original's.

    Attributes:
        original_ms: the original's median of round medians, in milliseconds.
        candidate_ms: the candidate's, in milliseconds.
        change: candidate / original - 1, from the median of the per-round
            ratios (negative: the candidate is faster).
        noise: the relative half-width of the band on the side of zero change
            (>= the protocol's min_noise): the distance from `change` to the
            band's edge nearer to no change; see the module docstring.
        verdict: "faster" (change < -noise), "slower" (change > noise) or "same".
    """

    original_ms: float
    candidate_ms: float
    change: float
    noise: float
    verdict: str

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


def latency_line(original_ms: float, candidate_ms: float, change: float, noise: float, verdict: str,
                 runtime: str = "onnxruntime CPU") -> str:
    """E.g. "onnxruntime CPU latency 2.341 -> 2.298 ms (-1.8% ± 2.0%, same)".

    Args:
        original_ms, candidate_ms, change, noise, verdict: a LatencyComparison's
            fields (or result.json's latency_ms_original, latency_ms_optimized,
            latency_change, latency_noise and latency_verdict).
        runtime: the runtime and device the figures were measured in, first
            on the line (e.g. "tensorflow CPU").
    """
    return (f"{runtime} latency {original_ms:.3f} -> {candidate_ms:.3f} ms "
            f"({100 * change:+.1f}% ± {100 * noise:.1f}%, {verdict})")


def compare_latencies(original: LatencySamples, candidate: LatencySamples, min_noise: float) -> LatencyComparison:
    """Compares two models timed in the same alternating rounds.

    Args:
        original: the original's samples.
        candidate: the candidate's samples, from the same rounds.
        min_noise: the floor of the noise band, in [0, 1) (a protocol's min_noise).

    Returns:
        LatencyComparison.

    Raises:
        ValueError: samples that are not LatencySamples, a different number of
            rounds on each side, or a bad min_noise.
    """
    for name, samples in (("original", original), ("candidate", candidate)):
        if not isinstance(samples, LatencySamples):
            raise ValueError(f"compare_latencies: {name} must be LatencySamples, found {type(samples).__name__} {samples!r}")
    if len(original.round_medians_ms) != len(candidate.round_medians_ms):
        raise ValueError(
            f"compare_latencies: original and candidate must come from the same rounds, found "
            f"{len(original.round_medians_ms)} and {len(candidate.round_medians_ms)} round medians"
        )
    _check_fraction("compare_latencies", "min_noise", min_noise)
    ratios = [candidate_ms / original_ms for original_ms, candidate_ms in zip(original.round_medians_ms, candidate.round_medians_ms)]
    median_ratio = statistics.median(ratios)
    change = median_ratio - 1.0
    # The band's edge on the side of "no change": the round least in favour of the median's direction.
    towards_no_change = median_ratio - min(ratios) if change >= 0 else max(ratios) - median_ratio
    noise = max(float(min_noise), towards_no_change)
    verdict = "faster" if change < -noise else "slower" if change > noise else "same"
    return LatencyComparison(original.median_ms, candidate.median_ms, change, noise, verdict)
