"""Cost fidelity: how well each cost model predicts the real onnxruntime latency of a graph.

Holds:
  Statistics (importable without the engine; tested by tests/test_cost_fidelity_stats.py):
    rank_average: ranks with ties given their average rank (1-based).
    spearman: Spearman's rank correlation (NaN where undefined).
    relative_error_pct, total_error_pct: the error of a predicted total, and
      its median over a set of graphs, in percent of the real latency.
    PairChange, SignAgreement, sign_agreement_pct: how often a predicted
      change has the sign of a real change beyond the noise.
    spread_beyond_noise: whether real latencies spread more than the noise.
    format_figure: 2 decimals, or "n/a".
  CostModelSpec, parse_cost_model, predict_ms: the cost models judged
    ("measured": `graph.cost("measured")`, "analytic:<profile>":
    `graph.cost("analytic", device=<profile>)`); every prediction is made
    before anything is timed, and a cost model that raises fails the run.
  The benchmark: variants of each graph (searches and random walks), their
  real latency (timed in groups, cached on disk), the tables and the JSON.

For each graph the benchmark builds variants: the original, greedy's and
backtracking's results under each of `--search-costs` (default: measured, the
optimize CLI's default, named plainly, and analytic:h100, named with its
model; backtracking with `--budget`, default 200), and
`--walks` seeded random walks of 10..40 steps (`--min-steps`, `--max-steps`)
from which `--points` graphs each are sampled at evenly spaced steps (4 x 6 =
24 walk variants by default). Every variant is exported
(`rlgraph_xflow.graphs.export`) and timed in onnxruntime with
`rlgraph_xflow.graphs.latency` in groups that always hold the original as
their anchor: one group per walk (the original and that walk's points) and one
for the searches (the original, the model file as given, greedy,
backtracking and the comparison tools). A variant's real latency is the
original's reference latency (the median of its group medians) times
1 + the variant's change against its own group's original, so a slow spell
of the machine between groups does not move a variant's figure. Timings are
cached as JSON under `--work-dir`/latency, one file per group, keyed by the
graph hashes timed, the protocol, the onnxruntime version and the CPU name;
iterating on a cost model therefore times nothing; `--retime` times again.

Per graph and cost model:
  spearman: rank correlation of predicted cost and real latency over the
    original and every distinct variant; printed always, judged only where the
    real latencies spread beyond the noise ((max - min) / median > 2 x the
    median noise band of the variants against the original).
  total error: median over the distinct variants (the original excluded and
    printed on its own) of (predicted - real) / real, in percent.
  sign agreement: over pairs whose real difference is beyond the noise (the
    `compare_latencies` verdict is not "same"): each variant against the
    original, and consecutive sampled points of a walk (timed in the same
    rounds), the percentage where the predicted change has the real change's
    sign; a predicted change of exactly 0 disagrees; "n/a" below 5 pairs.

`--compare-tools` (default: on with `--protocol full`, off with `fast`) also
times what a user would run instead, against the same original in the
searches group: onnxslim (`onnxslim.slim`) on every graph and
onnxruntime's transformer optimizer (`optimize_model(model_type="bert",
num_heads=12, hidden_size=768, opt_level=--ort-opt-level)`) on bert_base. A
tool that cannot be imported is reported on one line and its row is left out.

Graphs: zoo names (squeezenet1_1 resnet18 resnet50 inception_v3 bert_base),
keras.applications models as keras:NAME (keras:VGG16 keras:ResNet50V2
keras:MobileNetV3Small keras:Xception by default; exported once with
`python -m rlgraph_xflow.graphs export keras:NAME --out FILE.onnx` into
`--work-dir`/keras), or paths of .onnx files.

Commands:
  .venv/bin/python benchmarks/cost_fidelity.py
      every graph, cost models measured analytic:h100 analytic:cpu, full
      protocol, comparison tools.
  .venv/bin/python benchmarks/cost_fidelity.py --graphs squeezenet1_1 resnet18 \
      --cost-models analytic:h100 analytic:cpu --default-model analytic:cpu --protocol fast
  .venv/bin/python benchmarks/cost_fidelity.py --graphs squeezenet1_1 --walks 2 --protocol fast
  .venv/bin/python benchmarks/cost_fidelity.py --graphs bert_base keras:VGG16 --retime --json-out fidelity.json

Output: per graph, a latency table (the searches' and tools' real changes
against the original, with their noise bands) and a cost-model table; a JSON of
every figure (`--json-out`, default `--work-dir`/cost_fidelity.json). Last
line, for the default cost model (`--default-model`, default measured):
`cost_fidelity GRAPH=spearman/total_err_pct/sign_agree_pct ...` (2 decimals,
n/a where undefined). Exit status 2 on a bad argument (one `error:` line).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import importlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import numpy as np

if TYPE_CHECKING:  # the engine is imported only when the benchmark runs, so the statistics import cheaply
    import onnx

    from rlgraph_xflow.graphs import XflowGraph
    from rlgraph_xflow.graphs.latency import LatencyComparison, LatencyProtocol, LatencySamples
    from rlgraph_xflow.optimize.pipeline import LoadedModel

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO_GRAPHS = ("squeezenet1_1", "resnet18", "resnet50", "inception_v3", "bert_base")
KERAS_GRAPHS = ("keras:VGG16", "keras:ResNet50V2", "keras:MobileNetV3Small", "keras:Xception")
# Export options a keras application needs (MobileNetV3 builds only at its default input size when given one).
KERAS_EXPORT_OPTIONS = {"MobileNetV3Small": ("--input-size", "224"), "MobileNetV3Large": ("--input-size", "224")}
DEFAULT_COST_MODELS = ("measured", "analytic:h100", "analytic:cpu")
DEFAULT_WORK_DIR = os.path.join(REPO_ROOT, ".cache", "cost_fidelity")
MIN_SIGN_PAIRS = 5
SPREAD_FACTOR = 2.0
# bert_base's shape, for onnxruntime's transformer optimizer.
BERT_NUM_HEADS = 12
BERT_HIDDEN_SIZE = 768
EXIT_BAD_ARGUMENT = 2


class ExportFailed(RuntimeError):
    """A keras.applications model could not be exported on this machine (not a bad argument)."""


class BadArgument(ValueError):
    """A command-line value the benchmark cannot use; main prints it on one line and exits 2."""


# --------------------------------------------------------------------------------------------------
# Statistics


def _finite_vector(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, found shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers, found {array.tolist()}")
    return array


def rank_average(values: Sequence[float]) -> np.ndarray:
    """Ranks values from 1 (smallest), giving tied values the average of their ranks.

    Args:
        values: finite numbers.

    Returns:
        float array of ranks, e.g. [10, 20, 20, 5] -> [2, 3.5, 3.5, 1].

    Raises:
        ValueError: not a 1-D sequence of finite numbers.
    """
    array = _finite_vector(values, "rank_average: values")
    count = array.size
    if count == 0:
        return np.zeros(0)
    order = np.argsort(array, kind="mergesort")
    ordered = array[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.concatenate((starts[1:], [count]))
    # Positions start..end-1 (0-based) hold one tied value: ranks start+1..end, average (start + 1 + end) / 2.
    averages = (starts + 1 + ends) / 2.0
    ranks = np.empty(count)
    ranks[order] = np.repeat(averages, ends - starts)
    return ranks


def spearman(predicted: Sequence[float], real: Sequence[float]) -> float:
    """Spearman's rank correlation: the Pearson correlation of the average ranks.

    Args:
        predicted: one figure per graph.
        real: the real figure of the same graphs, in the same order.

    Returns:
        The correlation in [-1, 1]; NaN with fewer than 2 graphs or where
        either side is constant (no ranking to correlate).

    Raises:
        ValueError: sequences of different lengths, or non-finite numbers.
    """
    x = rank_average(predicted)
    y = rank_average(real)
    if x.size != y.size:
        raise ValueError(f"spearman: predicted and real must have the same length, found {x.size} and {y.size}")
    if x.size < 2:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(np.sum(dx * dx)) * float(np.sum(dy * dy)))
    if denominator == 0.0:
        return math.nan
    return float(np.clip(np.sum(dx * dy) / denominator, -1.0, 1.0))


def relative_error_pct(predicted: float, real: float) -> float:
    """The error of a predicted total against the real one: (predicted - real) / real, in percent.

    Raises:
        ValueError: a real latency that is not a finite number > 0, or a non-finite prediction.
    """
    if not (isinstance(real, (int, float)) and math.isfinite(real) and real > 0):
        raise ValueError(f"relative_error_pct: real must be a finite number > 0, found {real!r}")
    if not (isinstance(predicted, (int, float)) and math.isfinite(predicted)):
        raise ValueError(f"relative_error_pct: predicted must be a finite number, found {predicted!r}")
    return 100.0 * (predicted - real) / real


def total_error_pct(predicted: Sequence[float], real: Sequence[float]) -> float:
    """The median over graphs of (predicted - real) / real, in percent.

    Args:
        predicted: one predicted total per graph.
        real: the real latency of the same graphs (> 0).

    Returns:
        The median error in percent; NaN for no graphs.

    Raises:
        ValueError: sequences of different lengths, or a bad value (see relative_error_pct).
    """
    if len(predicted) != len(real):
        raise ValueError(f"total_error_pct: predicted and real must have the same length, found {len(predicted)} and {len(real)}")
    if not len(real):
        return math.nan
    return float(statistics.median(relative_error_pct(float(p), float(r)) for p, r in zip(predicted, real)))


class PairChange(NamedTuple):
    """One pair of graphs (a -> b) for sign agreement.

    Attributes:
        predicted_change: predicted cost of b minus that of a (any unit; only its sign counts).
        real_change: real latency change from a to b (any unit; only its sign counts).
        beyond_noise: the real change is beyond the noise (verdict not "same").
    """

    predicted_change: float
    real_change: float
    beyond_noise: bool


@dataclasses.dataclass(frozen=True)
class SignAgreement:
    """Sign agreement over the pairs whose real change is beyond the noise.

    Attributes:
        percent: agreeing pairs / counted pairs x 100; None ("n/a") below the minimum number of pairs.
        agree: counted pairs whose predicted change has the real change's sign.
        counted: pairs whose real change is beyond the noise.
    """

    percent: float | None
    agree: int
    counted: int


def sign_agreement_pct(pairs: Sequence[PairChange], min_pairs: int = MIN_SIGN_PAIRS) -> SignAgreement:
    """The percentage of pairs, among those beyond the noise, whose predicted change has the real change's sign.

    A predicted change of exactly 0 against a real change beyond the noise
    disagrees (the model saw no difference where there is one).

    Args:
        pairs: PairChange tuples (or (predicted_change, real_change, beyond_noise) triples).
        min_pairs: below this many counted pairs the percentage is None.

    Returns:
        SignAgreement.

    Raises:
        ValueError: min_pairs < 1, or a pair with non-finite changes.
    """
    if isinstance(min_pairs, bool) or not isinstance(min_pairs, int) or min_pairs < 1:
        raise ValueError(f"sign_agreement_pct: min_pairs must be an int >= 1, found {min_pairs!r}")
    agree = counted = 0
    for index, pair in enumerate(pairs):
        predicted_change, real_change, beyond_noise = pair
        if not (math.isfinite(predicted_change) and math.isfinite(real_change)):
            raise ValueError(f"sign_agreement_pct: pairs[{index}] must have finite changes, found {pair!r}")
        if not beyond_noise:
            continue
        counted += 1
        if predicted_change * real_change > 0:
            agree += 1
    percent = 100.0 * agree / counted if counted >= min_pairs else None
    return SignAgreement(percent, agree, counted)


def spread_beyond_noise(real_ms: Sequence[float], noise: float, factor: float = SPREAD_FACTOR) -> bool:
    """Whether real latencies spread beyond the noise: (max - min) / median > factor x noise.

    Args:
        real_ms: real latencies (> 0).
        noise: the relative noise band (a fraction of the latency, >= 0).
        factor: how many noise bands the spread must exceed.

    Raises:
        ValueError: no latencies, a latency <= 0, or a negative noise.
    """
    array = _finite_vector(real_ms, "spread_beyond_noise: real_ms")
    if array.size == 0 or np.any(array <= 0):
        raise ValueError(f"spread_beyond_noise: real_ms must be latencies > 0, found {array.tolist()}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"spread_beyond_noise: noise must be a finite fraction >= 0, found {noise!r}")
    return bool((array.max() - array.min()) / float(np.median(array)) > factor * noise)


def format_figure(value: float | None) -> str:
    """A figure with 2 decimals, or "n/a" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.2f}"


def _json_figure(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


# --------------------------------------------------------------------------------------------------
# Cost models


@dataclasses.dataclass(frozen=True)
class CostModelSpec:
    """A cost model to judge.

    Attributes:
        name: as given, e.g. "measured" or "analytic:h100".
        provider: the XflowGraph.cost provider, "analytic" or "measured".
        device: the analytic profile (None for measured).
    """

    name: str
    provider: str
    device: str | None


def parse_cost_model(spec: str) -> CostModelSpec:
    """Parses "measured" or "analytic:<profile>".

    Raises:
        BadArgument: anything else.
    """
    if spec == "measured":
        return CostModelSpec(spec, "measured", None)
    provider, _, device = spec.partition(":")
    if provider == "analytic" and device:
        return CostModelSpec(spec, "analytic", device)
    raise BadArgument(f"cost model must be 'measured' or 'analytic:<profile>' (e.g. analytic:h100), found {spec!r}")


@functools.lru_cache(maxsize=None)
def _cost_source(model: CostModelSpec) -> "CostSource":
    """One CostSource per model, so the measured table is read (and its pricer's cache kept) once."""
    from rlgraph_xflow.graphs.cost_models import resolve_cost_source

    return resolve_cost_source(model.provider, model.device)


def predict_ms(graph: "XflowGraph", model: CostModelSpec) -> float:
    """The runtime the cost model predicts for graph, in milliseconds (whatever it raises propagates)."""
    return float(_cost_source(model).runtime_ms(graph))


# --------------------------------------------------------------------------------------------------
# Graphs and variants


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "graph"


def _check_graph_name(name: str) -> None:
    if name in ZOO_GRAPHS:
        return
    if name.startswith("keras:"):
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name[len("keras:"):]):
            return
        raise BadArgument(f"keras graphs are named keras:NAME after a keras.applications constructor (e.g. keras:VGG16), found {name!r}")
    if name.endswith(".onnx") and os.path.isfile(name):
        return
    raise BadArgument(
        f"unknown graph {name!r}: expected a zoo name ({' '.join(ZOO_GRAPHS)}), keras:NAME (e.g. {' '.join(KERAS_GRAPHS)}) "
        f"or an existing .onnx file"
    )


def keras_model_path(name: str, work_dir: str) -> str:
    """Exports keras.applications.<NAME> once into work_dir/keras/NAME.onnx (with the project's exporter) and returns the path.

    Args:
        name: "keras:NAME".
        work_dir: the benchmark's work folder.

    Raises:
        BadArgument: the exporter rejects the name (exit status 2).
        ExportFailed: the export failed otherwise.
    """
    application = name[len("keras:"):]
    options = KERAS_EXPORT_OPTIONS.get(application, ())
    suffix = "" if not options else "_" + "_".join(option.strip("-").replace("-", "") for option in options)
    path = os.path.join(work_dir, "keras", f"{application}{suffix}.onnx")
    if os.path.isfile(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    command = [sys.executable, "-m", "rlgraph_xflow.graphs", "export", name, "--out", path, *options]
    _progress(f"[{name}] exporting: {' '.join(command[1:])}")
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        lines = [line for line in (completed.stderr or completed.stdout).splitlines() if line.strip()]
        message = lines[-1] if lines else f"exit status {completed.returncode}"
        if completed.returncode == EXIT_BAD_ARGUMENT:
            raise BadArgument(f"cannot export {name}: {message}")
        if completed.returncode < 0:
            # The kernel's OOM killer ends a too-large export with SIGKILL and no message of its own.
            message = f"killed by signal {-completed.returncode}" + (" (out of memory?)" if completed.returncode == -9 else "")
        raise ExportFailed(f"exporting {name} failed (exit status {completed.returncode}): {message}")
    return path


def load_graph(name: str, work_dir: str) -> "LoadedModel":
    """Loads a zoo graph, a keras:NAME graph (exported first) or an .onnx file with `load_model`."""
    from rlgraph_xflow.optimize.pipeline import load_model

    return load_model(keras_model_path(name, work_dir) if name.startswith("keras:") else name)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One graph timed for a benchmarked graph.

    Attributes:
        label: "original", "greedy", "backtracking" or "walk<w>@<step>".
        graph: the engine graph.
        key: its canonical hash, as 16 hex digits.
        walk: the walk index (None for the original and the searches).
        step: the walk step it was sampled at (None otherwise).
    """

    label: str
    graph: "XflowGraph"
    key: str
    walk: int | None = None
    step: int | None = None


def graph_key(graph: "XflowGraph") -> str:
    """The graph's canonical hash as 16 hex digits."""
    return f"{graph.hash() & (2 ** 64 - 1):016x}"


def sample_steps(walk_length: int, points: int) -> list[int]:
    """Evenly spaced steps 1..walk_length at which a walk is sampled (at most `points`, distinct, increasing)."""
    if walk_length < 1:
        return []
    return sorted({max(1, round(index * walk_length / points)) for index in range(1, points + 1)})


@dataclasses.dataclass
class Variants:
    """A graph's variants.

    Attributes:
        original: the loaded graph.
        searches: greedy's and backtracking's results.
        walks: per walk, its sampled points in step order.
        walk_lengths: steps each walk took (a walk stops early when no rewrite applies).
        search_seconds: wall time of each search.
    """

    original: Variant
    searches: list[Variant]
    walks: list[list[Variant]]
    walk_lengths: list[int]
    search_seconds: dict[str, float]

    def all(self) -> list[Variant]:
        """Every variant, the original first."""
        return [self.original, *self.searches, *(point for walk in self.walks for point in walk)]


def build_variants(graph: "XflowGraph", arguments: argparse.Namespace) -> Variants:
    """Runs the searches and the seeded random walks from graph."""
    from rlgraph_xflow.graphs.substitutions import backtracking, greedy, load_rules
    from rlgraph_xflow.optimize.random_walk import random_walk

    library = load_rules()
    searches, seconds = [], {}
    for search_cost in arguments.search_costs:
        options = _cost_source(search_cost).search_options()
        # The default cost model's searches keep the plain names; others are suffixed with their model.
        suffix = "" if search_cost.name == arguments.default_model else f" ({search_cost.name})"
        greedy_result = greedy(graph, library, **options)
        backtracking_result = backtracking(graph, library, alpha=arguments.alpha, budget=arguments.budget, **options)
        for name, result in (("greedy", greedy_result), ("backtracking", backtracking_result)):
            searches.append(Variant(name + suffix, result.graph, graph_key(result.graph)))
            seconds[name + suffix] = result.seconds
    generator = np.random.default_rng(arguments.seed)
    walks, lengths = [], []
    for walk_index in range(arguments.walks):
        num_steps = int(generator.integers(arguments.min_steps, arguments.max_steps + 1))
        walk = random_walk(graph, library, num_steps, seed=arguments.seed * 1000 + walk_index)
        lengths.append(len(walk.steps))
        walks.append([Variant(f"walk{walk_index}@{step}", walk.graphs[step], graph_key(walk.graphs[step]), walk_index, step)
                      for step in sample_steps(len(walk.steps), arguments.points)])
    return Variants(Variant("original", graph, graph_key(graph)), searches, walks, lengths, seconds)


# --------------------------------------------------------------------------------------------------
# Comparison tools


@dataclasses.dataclass(frozen=True)
class Tool:
    """A tool a user would run instead of the project's search.

    Attributes:
        name: its row's name.
        key: identifies its output in the latency cache (tool, version, options).
        run: produces the tool's optimized model from the original.
    """

    name: str
    key: str
    run: Callable[[], "onnx.ModelProto"]


def _original_proto(loaded: "LoadedModel") -> "onnx.ModelProto":
    import onnx

    return loaded.original if isinstance(loaded.original, onnx.ModelProto) else onnx.load(loaded.original)


def _original_path(loaded: "LoadedModel", name: str, work_dir: str) -> str:
    import onnx

    if not isinstance(loaded.original, onnx.ModelProto):
        return os.fspath(loaded.original)
    path = os.path.join(work_dir, "models", f"{_safe_name(name)}.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(loaded.original, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path


def comparison_tools(name: str, loaded: "LoadedModel", arguments: argparse.Namespace) -> tuple[list[Tool], list[str]]:
    """The comparison tools that apply to this graph and import here, and one line per tool that is missing."""
    tools, missing = [], []
    try:
        onnxslim = importlib.import_module("onnxslim")
    except ImportError as error:
        missing.append(f"onnxslim: not installed ({error}); its row is skipped")
    else:
        version = getattr(onnxslim, "__version__", "unknown")
        tools.append(Tool("onnxslim", f"onnxslim-{version}", lambda: onnxslim.slim(_original_proto(loaded))))
    if name == "bert_base":
        try:
            optimizer = importlib.import_module("onnxruntime.transformers.optimizer")
            importlib.import_module("sympy")
        except ImportError as error:
            missing.append(f"onnxruntime transformer optimizer: not usable ({error}); its row is skipped")
        else:
            import onnxruntime

            level = arguments.ort_opt_level

            def run() -> "onnx.ModelProto":
                path = _original_path(loaded, name, arguments.work_dir)
                return optimizer.optimize_model(path, model_type="bert", num_heads=BERT_NUM_HEADS,
                                                hidden_size=BERT_HIDDEN_SIZE, opt_level=level).model

            tools.append(Tool("ort_transformers", f"ort_transformers-{onnxruntime.__version__}-o{level}", run))
    return tools, missing


# --------------------------------------------------------------------------------------------------
# Timing


@dataclasses.dataclass(frozen=True)
class TimedEntry:
    """One model of a timing group.

    Attributes:
        key: its cache key (a graph hash, or the tool's key plus the original's hash).
        label: a readable name.
        model: produces the ModelProto (or path) to time; called only when the group is not cached.
        optional: a comparison tool's output: if it cannot be produced, the
            entry is left out and reported instead of failing the benchmark.
    """

    key: str
    label: str
    model: Callable[[], Any]
    optional: bool = False


@dataclasses.dataclass
class GroupTiming:
    """A group's timings.

    Attributes:
        name: "searches" or "walk<w>".
        samples: key -> LatencySamples, every model of the group timed in the same rounds.
        labels: key -> label.
        cached: whether the timings came from the cache.
        seconds: wall time of the timing (0 when cached).
        errors: entry label -> error, for tool outputs that could not be produced.
    """

    name: str
    samples: dict[str, "LatencySamples"]
    labels: dict[str, str]
    cached: bool
    seconds: float
    errors: dict[str, str]


def machine_description() -> dict[str, str]:
    """The onnxruntime version and the CPU (the real latencies' runtime and device)."""
    from rlgraph_xflow.graphs.measure import default_device_name
    from rlgraph_xflow.graphs.onnxruntime_session import import_onnxruntime

    return {"onnxruntime": import_onnxruntime().__version__, "device": default_device_name()}


def _cache_header(graph_name: str, keys: Sequence[str], protocol: "LatencyProtocol", machine: dict[str, str]) -> dict[str, Any]:
    return {"graph": graph_name, "keys": list(keys), "protocol": protocol.to_dict(), **machine}


def time_group(graph_name: str, group: str, entries: Sequence[TimedEntry], feeds: dict[str, np.ndarray],
               protocol: "LatencyProtocol", machine: dict[str, str], work_dir: str, retime: bool) -> GroupTiming:
    """Times the entries together (one `time_models` call), or reads the group's earlier timings from the cache.

    Models are written to temporary files and timed from them, so only the
    sessions hold weights. An entry whose model cannot be produced (a
    comparison tool that fails) is left out and reported in `errors`.
    """
    from rlgraph_xflow.graphs.latency import LatencySamples, time_models

    import onnx

    header = _cache_header(graph_name, [entry.key for entry in entries], protocol, machine)
    digest = hashlib.sha1(json.dumps(header, sort_keys=True).encode()).hexdigest()[:16]
    path = os.path.join(work_dir, "latency", f"{_safe_name(graph_name)}-{group}-{digest}.json")
    labels = {entry.key: entry.label for entry in entries}
    if not retime and os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        if document.get("header") == header:
            samples = {key: LatencySamples(tuple(medians)) for key, medians in document["round_medians_ms"].items()}
            return GroupTiming(group, samples, labels, True, 0.0, dict(document.get("errors", {})))
    errors: dict[str, str] = {}
    timed: list[TimedEntry] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="models-", dir=work_dir) as folder:
        paths = []
        for index, entry in enumerate(entries):
            try:
                model = entry.model()
            except Exception as error:  # a comparison tool's own failure: reported in place of its row, not fatal
                if not entry.optional:
                    raise
                errors[entry.label] = f"{type(error).__name__}: {error}"
                _progress(f"[{graph_name}] {entry.label} failed: {errors[entry.label]}; its row is skipped")
                continue
            if isinstance(model, onnx.ModelProto):
                model_path = os.path.join(folder, f"{index}.onnx")
                onnx.save(model, model_path)
                del model
            else:
                model_path = os.fspath(model)
            paths.append(model_path)
            timed.append(entry)
        _progress(f"[{graph_name}] timing group {group}: {len(paths)} models ({protocol.describe()})")
        results = time_models(paths, feeds, protocol)
    seconds = time.perf_counter() - start
    samples = {entry.key: result for entry, result in zip(timed, results)}
    document = {"header": header, "labels": labels, "errors": errors,
                "round_medians_ms": {key: list(result.round_medians_ms) for key, result in samples.items()},
                "timed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": seconds}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
    os.replace(path + ".tmp", path)
    return GroupTiming(group, samples, labels, False, seconds, errors)


def _export_entry(variant: Variant) -> TimedEntry:
    from rlgraph_xflow.graphs import export

    return TimedEntry(variant.key, variant.label, lambda graph=variant.graph: export(graph))


def _distinct(items: Sequence[Any]) -> list[Any]:
    """The items (Variants or TimedEntries) with the first of each `.key`, in order."""
    seen, kept = set(), []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            kept.append(item)
    return kept


# --------------------------------------------------------------------------------------------------
# One graph


@dataclasses.dataclass
class RealLatency:
    """A distinct graph's real latency.

    Attributes:
        ms: the original's reference latency x (1 + change).
        comparison: against its group's original (None for the original).
        group: the group it was timed in first.
    """

    ms: float
    comparison: "LatencyComparison | None"
    group: str


def benchmark_graph(name: str, arguments: argparse.Namespace, models: Sequence[CostModelSpec],
                    protocol: "LatencyProtocol", machine: dict[str, str]) -> dict[str, Any]:
    """Builds, times and judges one graph's variants; prints its tables; returns its JSON record."""
    from rlgraph_xflow.graphs.latency import compare_latencies

    started = time.perf_counter()
    loaded = load_graph(name, arguments.work_dir)
    variants = build_variants(loaded.graph, arguments)
    original = variants.original
    anchor = _export_entry(original)
    # Predict first: a cost model that fails does so before anything is timed.
    graphs_by_key = {variant.key: variant.graph for variant in variants.all()}
    predictions = {model.name: {key: predict_ms(graph, model) for key, graph in graphs_by_key.items()} for model in models}
    tools, missing = comparison_tools(name, loaded, arguments) if arguments.compare_tools else ([], [])
    given_key = f"given:{original.key}"

    groups: list[tuple[str, list[TimedEntry]]] = []
    search_entries = [anchor, TimedEntry(given_key, "original (as given)", lambda: loaded.original),
                      *(_export_entry(variant) for variant in variants.searches),
                      *(TimedEntry(f"{tool.key}:{original.key}", tool.name, tool.run, optional=True) for tool in tools)]
    groups.append(("searches", _distinct(search_entries)))
    for walk_index, points in enumerate(variants.walks):
        groups.append((f"walk{walk_index}", _distinct([anchor, *(_export_entry(point) for point in points)])))
    timings = [time_group(name, group, entries, loaded.feeds, protocol, machine, arguments.work_dir, arguments.retime)
               for group, entries in groups]

    min_noise = protocol.min_noise
    reference_ms = statistics.median(timing.samples[original.key].median_ms for timing in timings)
    real: dict[str, RealLatency] = {original.key: RealLatency(reference_ms, None, "all")}
    comparisons: dict[str, "LatencyComparison"] = {}
    variant_keys = {variant.key for variant in variants.all()}
    for timing in timings:
        for key, samples in timing.samples.items():
            if key == original.key:
                continue
            comparison = compare_latencies(timing.samples[original.key], samples, min_noise)
            comparisons.setdefault(key, comparison)
            if key in variant_keys and key not in real:
                real[key] = RealLatency(reference_ms * (1.0 + comparison.change), comparison, timing.name)

    distinct_variants = [variant for variant in _distinct(variants.all()) if variant.key != original.key]
    noise_bands = [real[variant.key].comparison.noise for variant in distinct_variants]
    noise = statistics.median(noise_bands) if noise_bands else min_noise
    point_keys = [original.key, *(variant.key for variant in distinct_variants)]
    real_points = [real[key].ms for key in point_keys]
    spread = (max(real_points) - min(real_points)) / statistics.median(real_points)
    spread_ok = spread_beyond_noise(real_points, noise)

    # Pairs: every distinct variant against the original, and consecutive sampled points of each walk.
    pairs: list[tuple[str, str, "LatencyComparison", str]] = [
        (original.key, variant.key, real[variant.key].comparison, f"original->{variant.label}") for variant in distinct_variants]
    seen_pairs = set()
    for walk_index, points in enumerate(variants.walks):
        samples = timings[1 + walk_index].samples
        for before, after in zip(points, points[1:]):
            if before.key == after.key or (before.key, after.key) in seen_pairs:
                continue
            seen_pairs.add((before.key, after.key))
            pairs.append((before.key, after.key, compare_latencies(samples[before.key], samples[after.key], min_noise),
                          f"{before.label}->{after.label}"))

    figures: dict[str, dict[str, Any]] = {}
    for model in models:
        predicted = predictions[model.name]
        sign = sign_agreement_pct([PairChange(predicted[after] - predicted[before], comparison.change, comparison.verdict != "same")
                                   for before, after, comparison, _ in pairs])
        figures[model.name] = {
            "spearman": _json_figure(spearman([predicted[key] for key in point_keys], real_points)),
            "spearman_judged": spread_ok,
            "total_error_pct": _json_figure(total_error_pct([predicted[variant.key] for variant in distinct_variants],
                                                            [real[variant.key].ms for variant in distinct_variants])),
            "original_error_pct": relative_error_pct(predicted[original.key], reference_ms),
            "sign_agreement_pct": _json_figure(sign.percent),
            "sign_pairs_agree": sign.agree,
            "sign_pairs_counted": sign.counted,
        }

    record = {
        "graph": name,
        "default_model": arguments.default_model,
        "variants_timed": len(point_keys),
        "walks": [{"steps": length, "points": [point.step for point in points]} for length, points in zip(variants.walk_lengths, variants.walks)],
        "search_seconds": variants.search_seconds,
        "reference_original_ms": reference_ms,
        "noise": noise,
        "real_spread": spread,
        "spread_beyond_noise": spread_ok,
        "pairs": {"total": len(pairs), "beyond_noise": sum(comparison.verdict != "same" for _, _, comparison, _ in pairs),
                  "list": [{"pair": label, "real_change": comparison.change, "noise": comparison.noise, "verdict": comparison.verdict,
                            "predicted_change_ms": {model.name: predictions[model.name][after] - predictions[model.name][before]
                                                    for model in models}}
                           for before, after, comparison, label in pairs]},
        "cost_models": figures,
        "latency": _latency_rows(timings[0], original.key, given_key, variants, tools, comparisons, predictions,
                                 arguments.default_model),
        "tools_missing": missing,
        "tool_errors": timings[0].errors,
        "groups": [{"name": timing.name, "models": len(timing.samples), "cached": timing.cached, "seconds": timing.seconds}
                   for timing in timings],
        "variants": [
            {"label": variant.label, "hash": variant.key, "walk": variant.walk, "step": variant.step,
             "real_ms": real[variant.key].ms, "group": real[variant.key].group,
             "change": None if real[variant.key].comparison is None else real[variant.key].comparison.change,
             "noise": None if real[variant.key].comparison is None else real[variant.key].comparison.noise,
             "verdict": None if real[variant.key].comparison is None else real[variant.key].comparison.verdict,
             "predicted_ms": {model.name: predictions[model.name][variant.key] for model in models}}
            for variant in variants.all()
        ],
        "seconds": time.perf_counter() - started,
    }
    _print_graph(record, missing, arguments.show_variants)
    return record


def _latency_rows(timing: GroupTiming, original_key: str, given_key: str, variants: Variants, tools: Sequence[Tool],
                  comparisons: dict[str, "LatencyComparison"], predictions: dict[str, dict[str, float]],
                  default_model: str) -> list[dict[str, Any]]:
    """The searches group's rows: each result's real latency and change (with its noise band) against the original.

    `comparisons` holds each key's comparison against the original of the
    first group that timed it; the searches group comes first, so these rows
    compare within it. The predicted change is the default cost model's.
    """
    anchor = timing.samples[original_key]
    rows = [{"result": "original (engine export)", "real_ms": anchor.median_ms, "change": None, "noise": None,
             "verdict": None, "predicted_change": None}]
    listed = [(given_key, "original (as given)", False)]
    listed += [(variant.key, variant.label, True) for variant in variants.searches]
    tool_prefixes = tuple(f"{tool.key}:" for tool in tools)
    listed += [(key, timing.labels[key], False) for key in timing.samples if tool_prefixes and key.startswith(tool_prefixes)]
    predicted = predictions.get(default_model, {})
    for key, label, is_graph in listed:
        if key == original_key:  # a search that changed nothing: its figure is the original's
            rows.append({**rows[0], "result": label, "change": 0.0, "noise": 0.0, "verdict": "same (the original)",
                         "predicted_change": 0.0 if predicted else None})
            continue
        if key not in timing.samples:
            continue
        comparison = comparisons[key]
        change = predicted[key] / predicted[original_key] - 1.0 if is_graph and predicted else None
        rows.append({"result": label, "real_ms": timing.samples[key].median_ms, "change": comparison.change,
                     "noise": comparison.noise, "verdict": comparison.verdict, "predicted_change": change})
    return rows


# --------------------------------------------------------------------------------------------------
# Output


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _percent(fraction: float | None, signed: bool = True) -> str:
    if fraction is None:
        return ""
    return f"{100 * fraction:+.2f}%" if signed else f"{100 * fraction:.2f}%"


def _print_graph(record: dict[str, Any], missing: Sequence[str], show_variants: bool) -> None:
    """Prints one graph's latency and cost-model tables."""
    walks = record["walks"]
    points = sum(len(walk["points"]) for walk in walks)
    timed = sum(group["models"] for group in record["groups"])
    cached = sum(group["cached"] for group in record["groups"])
    print(f"\n== {record['graph']}: original + {record['variants_timed'] - 1} distinct variants (greedy, backtracking, "
          f"{len(walks)} walk{'s' if len(walks) != 1 else ''} of {'/'.join(str(walk['steps']) for walk in walks) or '-'} steps, {points} points); "
          f"{timed} models timed in {len(record['groups'])} groups ({cached} cached); "
          f"noise band {_percent(record['noise'], False)}, real spread {_percent(record['real_spread'], False)} "
          f"({'beyond' if record['spread_beyond_noise'] else 'within'} {SPREAD_FACTOR:g} x noise)")
    default_model = record["default_model"]
    print(f"latency against the original (reference {record['reference_original_ms']:.3f} ms):")
    header = ("result", "real ms", "change", "noise", "verdict", f"predicted ({default_model})")
    rows = [(row["result"], f"{row['real_ms']:.3f}", _percent(row["change"]), "" if row["noise"] is None else "±" + _percent(row["noise"], False),
             row["verdict"] or "", _percent(row["predicted_change"])) for row in record["latency"]]
    _print_table(header, rows)
    for line in missing:
        print(f"  {line}")
    for label, error in record["tool_errors"].items():
        print(f"  {label}: failed ({error}); its row is skipped")
    print("cost models:")
    header = ("cost model", "spearman", "judged", "total err %", "original err %", "sign agree %", "agree/pairs")
    rows = [(name, format_figure(figures["spearman"]), "yes" if figures["spearman_judged"] else "no (spread within noise)",
             format_figure(figures["total_error_pct"]), format_figure(figures["original_error_pct"]),
             format_figure(figures["sign_agreement_pct"]), f"{figures['sign_pairs_agree']}/{figures['sign_pairs_counted']}")
            for name, figures in record["cost_models"].items()]
    _print_table(header, rows)
    if show_variants:
        names = list(record["cost_models"])
        header = ("variant", "hash", "group", "real ms", "change", "noise", "verdict", *(f"{name} ms" for name in names))
        rows = [(variant["label"], variant["hash"], variant["group"], f"{variant['real_ms']:.3f}", _percent(variant["change"]),
                 "" if variant["noise"] is None else "±" + _percent(variant["noise"], False), variant["verdict"] or "",
                 *(f"{variant['predicted_ms'][name]:.4f}" for name in names)) for variant in record["variants"]]
        _print_table(header, rows)
    sys.stdout.flush()


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for line in (header, *rows):
        print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())


def summary_line(records: Sequence[dict[str, Any]], default_model: str) -> str:
    """The last line: `cost_fidelity GRAPH=spearman/total_err_pct/sign_agree_pct ...` for the default cost model.

    A graph whose export failed shows as GRAPH=failed.
    """
    parts = []
    for record in records:
        if "failed" in record:
            parts.append(f"{record['graph']}=failed")
            continue
        figures = record["cost_models"][default_model]
        parts.append(f"{record['graph']}=" + "/".join(format_figure(figures[name]) for name in
                                                       ("spearman", "total_error_pct", "sign_agreement_pct")))
    return "cost_fidelity " + " ".join(parts)


# --------------------------------------------------------------------------------------------------
# Command line


def _positive_int(label: str, minimum: int = 1) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{label} must be an int >= {minimum}, found {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{label} must be an int >= {minimum}, found {value}")
        return value

    return parse


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--alpha must be a number >= 1, found {text!r}") from None
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"--alpha must be a number >= 1, found {value}")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument on one `error:` line (no usage block) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_ARGUMENT)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and checks the command line.

    Raises:
        BadArgument: a value argparse cannot check alone (graph names, cost models, step bounds).
    """
    parser = _OneLineParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", nargs="+", default=[*ZOO_GRAPHS, *KERAS_GRAPHS],
                        help="zoo names, keras:NAME or .onnx paths (default: the zoo and four keras.applications models)")
    parser.add_argument("--cost-models", nargs="+", default=list(DEFAULT_COST_MODELS),
                        help="cost models to judge: measured, analytic:<profile> (default: %(default)s)")
    parser.add_argument("--default-model", default="measured", help="the cost model of the last line (one of --cost-models)")
    parser.add_argument("--search-costs", nargs="+", default=["measured", "analytic:h100"],
                        help="cost models the greedy and backtracking searches price with, each giving two variants (default: %(default)s)")
    parser.add_argument("--budget", type=_positive_int("--budget"), default=200, help="backtracking budget (default 200)")
    parser.add_argument("--alpha", type=_alpha, default=1.05, help="backtracking alpha (default 1.05)")
    parser.add_argument("--walks", type=_positive_int("--walks"), default=4, help="random walks per graph (default 4)")
    parser.add_argument("--points", type=_positive_int("--points"), default=6, help="graphs sampled per walk (default 6)")
    parser.add_argument("--min-steps", type=_positive_int("--min-steps"), default=10, help="shortest walk (default 10)")
    parser.add_argument("--max-steps", type=_positive_int("--max-steps"), default=40, help="longest walk (default 40)")
    parser.add_argument("--seed", type=_positive_int("--seed", 0), default=0, help="seed of the walks (default 0)")
    parser.add_argument("--protocol", choices=("full", "fast"), default="full",
                        help="latency protocol: full = LatencyProtocol() (7 rounds x 10 runs), fast = LatencyProtocol.fast()")
    parser.add_argument("--retime", action="store_true", help="time again even where the cache has the group")
    parser.add_argument("--compare-tools", action=argparse.BooleanOptionalAction, default=None,
                        help="also time onnxslim and (bert_base) onnxruntime's transformer optimizer "
                             "(default: on with --protocol full, off with fast)")
    parser.add_argument("--ort-opt-level", type=int, choices=(0, 1, 2, 99), default=0,
                        help="opt_level of onnxruntime's transformer optimizer (default 0: its Python fusions, Attention, "
                             "BiasGelu, SkipLayerNormalization; levels >= 1 also run onnxruntime's optimizer, which in "
                             "onnxruntime 1.31 imports torch, not a dependency of this project)")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR, help="exports and the latency cache (default: %(default)s)")
    parser.add_argument("--json-out", default=None, help="JSON of every figure (default: WORK_DIR/cost_fidelity.json)")
    parser.add_argument("--show-variants", action="store_true", help="also print every variant's real and predicted latency")
    arguments = parser.parse_args(argv)

    from rlgraph_xflow.ops import device_profiles

    profiles = sorted(device_profiles())
    arguments.graphs = list(dict.fromkeys(arguments.graphs))
    for name in arguments.graphs:
        _check_graph_name(name)
    models = [parse_cost_model(spec) for spec in dict.fromkeys(arguments.cost_models)]
    search_costs = [parse_cost_model(spec) for spec in dict.fromkeys(arguments.search_costs)]
    for model in (*models, *search_costs):
        if model.provider == "analytic" and model.device not in profiles:
            raise BadArgument(f"unknown analytic profile in {model.name!r}; expected one of: {', '.join(profiles)}")
    if arguments.default_model not in {model.name for model in models}:
        raise BadArgument(f"--default-model {arguments.default_model!r} must be one of --cost-models ({' '.join(model.name for model in models)})")
    if arguments.min_steps > arguments.max_steps:
        raise BadArgument(f"--min-steps ({arguments.min_steps}) must not exceed --max-steps ({arguments.max_steps})")
    if arguments.compare_tools is None:
        arguments.compare_tools = arguments.protocol == "full"
    arguments.models = models
    arguments.search_costs = search_costs
    arguments.work_dir = os.path.abspath(arguments.work_dir)
    arguments.json_out = arguments.json_out or os.path.join(arguments.work_dir, "cost_fidelity.json")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status (0, or 2 on a bad argument)."""
    try:
        arguments = parse_arguments(argv)
    except BadArgument as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_ARGUMENT
    from rlgraph_xflow.graphs.latency import LatencyProtocol

    protocol = LatencyProtocol() if arguments.protocol == "full" else LatencyProtocol.fast()
    machine = machine_description()
    os.makedirs(arguments.work_dir, exist_ok=True)
    print(f"cost fidelity: real latency on {machine['device']}, {protocol.describe()}")
    print(f"cost models: {' '.join(model.name for model in arguments.models)} (default {arguments.default_model}); "
          f"searches priced with {' and '.join(model.name for model in arguments.search_costs)}, backtracking budget {arguments.budget}; "
          f"{arguments.walks} walk{'s' if arguments.walks != 1 else ''} of {arguments.min_steps}..{arguments.max_steps} steps x {arguments.points} points, seed {arguments.seed}")
    table_conditions = None
    measured_models = [model for model in (*arguments.models, *arguments.search_costs) if model.provider == "measured"]
    if measured_models:
        # Building the source calibrates a new table, before anything else loads the machine.
        table_conditions = _cost_source(measured_models[0]).measured.describe_conditions()
        print(f"measured kernel table: {table_conditions}")
    records = []
    for name in arguments.graphs:
        try:
            record = benchmark_graph(name, arguments, arguments.models, protocol, machine)
        except BadArgument as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_ARGUMENT
        except ExportFailed as error:
            # One graph that cannot be exported here should not cost the others' figures.
            print(f"\n== {name}: {error}; left out")
            record = {"graph": name, "failed": str(error)}
        records.append(record)
    document = {"protocol": protocol.to_dict(), "protocol_description": protocol.describe(), **machine,
                "default_model": arguments.default_model, "cost_models": [model.name for model in arguments.models],
                "search_costs": [model.name for model in arguments.search_costs], "budget": arguments.budget, "alpha": arguments.alpha,
                "walks": arguments.walks, "points": arguments.points, "min_steps": arguments.min_steps,
                "max_steps": arguments.max_steps, "seed": arguments.seed, "measured_table_conditions": table_conditions, "graphs": records}
    os.makedirs(os.path.dirname(os.path.abspath(arguments.json_out)), exist_ok=True)
    with open(arguments.json_out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
    os.replace(arguments.json_out + ".tmp", arguments.json_out)
    print(f"\nwrote {arguments.json_out}")
    print(summary_line(records, arguments.default_model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
