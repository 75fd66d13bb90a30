"""Optimize one graph end to end: load, search, export, verify, write the report.

Holds:
  SEARCHES, COST_MODELS: the accepted `search` and `cost_model` values.
  OptimizeInputError: bad input (unknown model, bad option value, unwritable
    output folder, bad rule file); the CLI exits 2 on it.
  VerificationFailed: the optimized graph does not match the original; carries
    the report (with the rule blamed); the CLI exits 3 on it.
  LoadedModel, load_model: a zoo name or an .onnx path -> the original model,
    its engine graph and the random inputs verification feeds both.
  ORIGINAL_MODEL_KEY, original_model_fields, load_original_model: the
    result.json entry that says how to rebuild the original model (zoo name
    or absolute path, batch size, sequence length, symbolic dimensions, zoo
    options), and rebuilding it: `python -m rlgraph_xflow.evaluate` compares
    a run directory's optimized.onnx with it.
  ExportCandidate: a graph that may be exported, with the result.json fields
    that describe it.
  write_verified_graph: verifies and times the candidates against the
    original, cheapest first, and writes the first that is not slower (or the
    original) with result.json.
  optimize: the whole pipeline; writes OUT/optimized.onnx and OUT/result.json.

The output folder never holds an optimized.onnx that was not verified: the
model is written as optimized.onnx.unverified, verified from that file, and
renamed only when it matches; on a mismatch the file is deleted and
result.json says verified=false and which rule broke equivalence. Outputs of
an earlier run in the same folder are deleted when the search starts, so a
failed run cannot leave an older optimized.onnx beside its report.

Nor is a graph exported that runs slower than the original: verification
also times both in onnxruntime (`rlgraph_xflow.graphs.latency`), and a
candidate whose latency verdict is "slower" (beyond the noise band) is set
aside for the next candidate, or for the original model itself, which is
then written as optimized.onnx (result.json: exported "original", the
rejected candidates and an export_note), unless allow_slower is set.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np
import onnx

from rlgraph_xflow.core.output_folder import OutputFolderError, writable_folder
from rlgraph_xflow.core.validation import is_int, is_number
from rlgraph_xflow.graphs import XflowGraph, cost_models, export, load, zoo
from rlgraph_xflow.graphs.errors import CostError, OnnxLoadError
from rlgraph_xflow.graphs.substitutions import RuleError, RuleLibrary, backtracking, greedy, load_rules
from rlgraph_xflow.graphs.latency import LatencyProtocol
from rlgraph_xflow.graphs.verify import VerificationResult, random_inputs, verify
from rlgraph_xflow.ops import DEFAULT_MAX_LOCATIONS
from rlgraph_xflow.optimize.equivalence import EquivalenceChecker, first_breaking_step
from rlgraph_xflow.optimize.replay import replay

__all__ = [
    "COST_MODELS",
    "ORIGINAL_MODEL_KEY",
    "OPTIMIZED_FILE",
    "RESULT_FILE",
    "SEARCHES",
    "ExportCandidate",
    "LoadedModel",
    "OptimizeInputError",
    "VerificationFailed",
    "load_model",
    "load_original_model",
    "optimize",
    "original_model_fields",
    "write_verified_graph",
]

SEARCHES = ("greedy", "backtracking")
COST_MODELS = cost_models.COST_MODELS
OPTIMIZED_FILE = "optimized.onnx"
RESULT_FILE = "result.json"
_UNVERIFIED_FILE = OPTIMIZED_FILE + ".unverified"
# A noise band is the spread of the rounds: fewer than this gives too few to spread.
MIN_LATENCY_ROUNDS = 3


class OptimizeInputError(ValueError):
    """Bad input to `optimize`: the message says what was expected and what was found."""


class VerificationFailed(RuntimeError):
    """The optimized graph's outputs differ from the original's (or it does not run).

    Attributes:
        report: the result.json content (verified=False, failing_rule, error).
    """

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model ready to optimize.

    Attributes:
        name: the zoo name, or the file name without .onnx.
        original: the model to verify against (the zoo ModelProto, or the file path).
        graph: its engine graph.
        feeds: seeded random inputs for both models (static shapes as loaded).
    """

    name: str
    original: onnx.ModelProto | str
    graph: XflowGraph
    feeds: dict[str, np.ndarray]


def _symbolic_dims_as_loaded(proto: onnx.ModelProto, batch_size: int, symbolic_dims: Mapping[str, int]) -> dict[str, int]:
    """The symbolic-dimension sizes `load` binds: named ones as given, an unnamed dimension 0 to batch_size."""
    sizes = dict(symbolic_dims)
    for value in proto.graph.input:
        dimensions = value.type.tensor_type.shape.dim
        if dimensions and dimensions[0].HasField("dim_param") and dimensions[0].dim_param not in sizes:
            sizes[dimensions[0].dim_param] = batch_size
    return sizes


def load_model(
    model: str | os.PathLike,
    batch_size: int = 1,
    sequence_length: int | None = None,
    symbolic_dims: Mapping[str, int] | None = None,
    seed: int = 0,
    graph_options: Mapping[str, object] | None = None,
) -> LoadedModel:
    """Resolves a zoo name or an .onnx path, loads it into the engine and draws verification inputs.

    Args:
        model: a zoo model name (`zoo.names()`) or a path to an .onnx file.
        batch_size: batch of zoo models, and the size of an .onnx file's symbolic dimension 0.
        sequence_length: bert_base's sequence length (zoo default 64).
        symbolic_dims: sizes of an .onnx file's named symbolic dimensions.
        seed: seed of the random inputs.
        graph_options: more zoo.build options of a zoo model (an agent run's
            env.graph_options, e.g. {"layers": 2} for bert_base).

    Returns:
        LoadedModel.

    Raises:
        OptimizeInputError: neither a zoo name nor an existing file (with a
            close zoo name when there is one), an option the model does not
            take, or a file the loader rejects.
    """
    model = os.fspath(model)
    symbolic_dims = dict(symbolic_dims or {})
    if not is_int(batch_size) or batch_size < 1:
        raise OptimizeInputError(f"batch size must be an int >= 1, found {batch_size!r}")
    if sequence_length is not None and model != "bert_base":
        raise OptimizeInputError(f"--sequence-length applies to the zoo model bert_base only, not {model!r}")
    if graph_options and model not in zoo.names():
        raise OptimizeInputError(f"graph options apply to zoo models only, not {model!r}")
    try:
        if model in zoo.names():
            if symbolic_dims:
                raise OptimizeInputError(f"--dim binds symbolic dimensions of .onnx files; zoo model {model!r} has none")
            options = dict(graph_options or {})
            if sequence_length is not None:
                options["sequence_length"] = sequence_length
            original: onnx.ModelProto | str = zoo.build(model, batch_size=batch_size, **options)
            graph = load(original)
            name = model
        elif os.path.isfile(model):
            original = model
            graph = load(model, batch_size=batch_size, symbolic_dims=symbolic_dims)
            name = os.path.splitext(os.path.basename(model))[0]
        else:
            close = difflib.get_close_matches(model, zoo.names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise OptimizeInputError(
                f"{model!r} is neither a zoo model nor an existing .onnx file{hint} (zoo models: {', '.join(zoo.names())})"
            )
        metadata = original if isinstance(original, onnx.ModelProto) else onnx.load(original, load_external_data=False)
        feeds = random_inputs(metadata, seed=seed, dims=_symbolic_dims_as_loaded(metadata, batch_size, symbolic_dims))
    except (OnnxLoadError, ValueError, TypeError) as error:
        if isinstance(error, OptimizeInputError):
            raise
        raise OptimizeInputError(f"cannot load {model!r}: {error}") from error
    return LoadedModel(name=name, original=original, graph=graph, feeds=feeds)


ORIGINAL_MODEL_KEY = "original_model"


def original_model_fields(model: str | os.PathLike, batch_size: int = 1, sequence_length: int | None = None,
                          symbolic_dims: Mapping[str, int] | None = None,
                          graph_options: Mapping[str, object] | None = None) -> dict[str, Any]:
    """result.json's `original_model`: what `load_original_model` needs to rebuild the original.

    A zoo model is rebuilt from its name (the zoo is seeded, so the weights
    are the same); a file is named by its absolute path, so the entry holds
    from any working directory. The original itself is not copied into the
    run directory: bert_base's weights alone take 440 MB.

    Args:
        model, batch_size, sequence_length, symbolic_dims, graph_options: as
            given to load_model.

    Returns:
        {"model", "batch_size", "sequence_length", "symbolic_dims", "graph_options"}.
    """
    model = os.fspath(model)
    return {"model": model if model in zoo.names() else os.path.abspath(model), "batch_size": batch_size,
            "sequence_length": sequence_length, "symbolic_dims": dict(symbolic_dims or {}),
            "graph_options": dict(graph_options) if graph_options else None}


def load_original_model(fields: Mapping[str, Any], seed: int = 0) -> LoadedModel:
    """Rebuilds the original model from result.json's `original_model` (see original_model_fields).

    Raises:
        OptimizeInputError: fields that are not such an entry, or a model that
            no longer loads (a moved or deleted file).
    """
    expected = {"model", "batch_size", "sequence_length", "symbolic_dims", "graph_options"}
    if not isinstance(fields, Mapping) or set(fields) != expected:
        found = sorted(fields) if isinstance(fields, Mapping) else type(fields).__name__
        raise OptimizeInputError(f"{ORIGINAL_MODEL_KEY} must be a mapping with keys {sorted(expected)}, found {found}")
    return load_model(fields["model"], batch_size=fields["batch_size"], sequence_length=fields["sequence_length"],
                      symbolic_dims=fields["symbolic_dims"], seed=seed, graph_options=fields["graph_options"])


def _checked_options(search: str, alpha: float | None, budget: int | None, cost_model: str,
                     rtol: float, atol: float, max_locations: int) -> tuple[float, int]:
    """Validates the scalar options; returns (alpha, budget) with backtracking's defaults filled in."""
    if search not in SEARCHES:
        raise OptimizeInputError(f"search must be one of {list(SEARCHES)}, found {search!r}")
    if cost_model not in COST_MODELS:
        raise OptimizeInputError(f"cost model must be one of {list(COST_MODELS)}, found {cost_model!r}")
    if search == "greedy" and (alpha is not None or budget is not None):
        raise OptimizeInputError("--alpha and --budget apply to --search backtracking; greedy takes neither")
    alpha = 1.05 if alpha is None else alpha
    budget = 1000 if budget is None else budget
    if not is_number(alpha) or not (math.isfinite(alpha) and alpha >= 1):
        raise OptimizeInputError(f"--alpha must be a number >= 1 (TASO uses 1.05), found {alpha!r}")
    if not is_int(budget) or budget < 1:
        raise OptimizeInputError(f"--budget must be an int >= 1 (graphs explored), found {budget!r}")
    for label, value in (("--rtol", rtol), ("--atol", atol)):
        if not is_number(value) or not (math.isfinite(value) and value >= 0):
            raise OptimizeInputError(f"{label} must be a number >= 0, found {value!r}")
    if not is_int(max_locations) or max_locations < 1:
        raise OptimizeInputError(f"--max-locations must be an int >= 1, found {max_locations!r}")
    return float(alpha), budget


def _check_time_limit(search: str, time_limit_seconds: float | None) -> None:
    if time_limit_seconds is None:
        return
    if search != "backtracking":
        raise OptimizeInputError("--time-limit applies to --search backtracking; greedy takes none")
    if not is_number(time_limit_seconds) or not (math.isfinite(time_limit_seconds) and time_limit_seconds > 0):
        raise OptimizeInputError(f"--time-limit must be a number of seconds > 0, found {time_limit_seconds!r}")


def _checked_export_options(protocol: LatencyProtocol | None, allow_slower: bool) -> LatencyProtocol:
    """Validates the latency protocol (default: LatencyProtocol()) and allow_slower; returns the protocol."""
    protocol = LatencyProtocol() if protocol is None else protocol
    if not isinstance(protocol, LatencyProtocol):
        raise OptimizeInputError(f"latency protocol must be a LatencyProtocol or None, found {type(protocol).__name__} {protocol!r}")
    if protocol.rounds < MIN_LATENCY_ROUNDS:
        raise OptimizeInputError(f"--latency-rounds must be an int >= {MIN_LATENCY_ROUNDS} (the noise band is their spread), "
                                 f"found {protocol.rounds!r}")
    if not isinstance(allow_slower, bool):
        raise OptimizeInputError(f"allow_slower must be true or false, found {type(allow_slower).__name__} {allow_slower!r}")
    return protocol


def _load_library(rules: Sequence[str | os.PathLike] | None) -> RuleLibrary:
    try:
        return load_rules(None if not rules else [os.fspath(path) for path in rules])
    except RuleError as error:
        raise OptimizeInputError(f"bad rule library: {error}") from error


def _prepare_output_folder(out_dir: str | os.PathLike) -> str:
    try:
        return writable_folder(out_dir, f"{OPTIMIZED_FILE} and {RESULT_FILE}")
    except OutputFolderError as error:
        raise OptimizeInputError(str(error)) from error


def _remove(path: str) -> None:
    if os.path.lexists(path):
        os.remove(path)


def _write_json(path: str, document: Mapping[str, Any]) -> None:
    temporary = path + ".partial"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def _blame(loaded: LoadedModel, library: RuleLibrary, steps: Sequence[tuple[int, int]], result_graph: XflowGraph,
           max_locations: int, rtol: float, atol: float) -> dict[str, Any]:
    """Names the rewrite that breaks equivalence, by replaying the steps and bisecting the path."""
    try:
        checker = EquivalenceChecker(loaded.original, loaded.feeds, rtol=rtol, atol=atol)
    except Exception as error:  # onnxruntime's own exception types: the original itself does not run
        raise OptimizeInputError(f"onnxruntime cannot run the original model {loaded.name!r}: {error}") from error
    path = replay(loaded.graph, library, steps, target_hash=result_graph.hash(), max_locations=max_locations)
    step = first_breaking_step(path.graphs, checker)
    blame: dict[str, Any] = {"failing_rule": None, "failing_step": None, "replay_reaches_result": path.reaches_result}
    if step == 0:
        blame["explanation"] = "the unmodified graph already differs after import and export: no rule is at fault, the ONNX round trip is"
    elif step is None:
        reason = path.error or ("the replay did not reach the optimized graph" if not path.reaches_result else "every replayed graph matches")
        blame["explanation"] = (
            f"replaying the {len(steps)} recorded steps did not reproduce the mismatch ({reason}), so no single rule "
            f"could be isolated; replayed rules: {', '.join(taken.rule for taken in path.steps) or '(none)'}"
        )
    else:
        taken = path.steps[step - 1]
        blame["failing_rule"], blame["failing_step"] = taken.rule, step
        where = "" if path.reaches_result else " of a replay that did not reach the optimized graph"
        blame["explanation"] = f"rule {taken.rule!r} breaks equivalence (step {step} of {len(steps)}, location {taken.location_id}{where})"
    return blame


@dataclasses.dataclass(frozen=True)
class ExportCandidate:
    """A graph that may be exported.

    Attributes:
        source: what produced it, as export notes name it ("greedy search",
            "greedy_policy", ...).
        graph: the optimized engine graph.
        steps: the (xfer, location) rewrites that produced it from the
            original graph, in order (replayed to blame one on a mismatch).
        fields: the result.json fields that describe it when it is exported:
            final_cost_ms, cost_reduction, applied, steps and any others.
    """

    source: str
    graph: XflowGraph
    steps: Sequence[tuple[int, int]]
    fields: Mapping[str, Any]


def _percent(fraction: float) -> str:
    return f"{100 * fraction:+.1f}%"


def _latency_text(change: float, noise: float, verdict: str) -> str:
    """E.g. "+6.3% ± 2.0%, slower"."""
    return f"{_percent(change)} ± {100 * noise:.1f}%, {verdict}"


def _rejections_text(rejected: Sequence[Mapping[str, Any]]) -> str:
    """E.g. "greedy_policy's graph measured slower in onnxruntime (+6.3% ± 2.0%, slower)"."""
    return "; ".join(
        f"{entry['source']}'s graph measured slower in onnxruntime "
        f"({_latency_text(entry['latency_change'], entry['latency_noise'], entry['latency_verdict'])})"
        for entry in rejected
    )


def _save_original(loaded: LoadedModel, path: str) -> None:
    """Writes the original model itself (weights included) to path."""
    model = loaded.original if isinstance(loaded.original, onnx.ModelProto) else onnx.load(loaded.original)
    onnx.save(model, path)


def _verify_candidate(loaded: LoadedModel, graph: XflowGraph, path: str, protocol: LatencyProtocol, seed: int,
                      rtol: float, atol: float) -> tuple[VerificationResult | None, str | None]:
    """Exports graph to path, verifies and times it against the original: (VerificationResult or None, failure or None)."""
    try:
        onnx.save(export(graph), path)
        verification = verify(loaded.original, path, protocol=protocol, seed=seed, rtol=rtol, atol=atol, input_values=loaded.feeds)
    except Exception as error:  # an export error, onnxruntime refusing the model, or an interface mismatch: all mean "not verified"
        # onnxruntime messages span lines; the report and the CLI's error line keep one.
        return None, " ".join(f"the optimized model does not run like the original: {type(error).__name__}: {error}".split())
    if verification.equal:
        return verification, None
    worst = max(verification.outputs, key=lambda output: output.max_abs_diff)
    return verification, f"output {worst.name!r} differs from the original's by up to {worst.max_abs_diff:.3g} (rtol {rtol:g}, atol {atol:g})"


def write_verified_graph(loaded: LoadedModel, library: RuleLibrary, candidates: Sequence[ExportCandidate],
                         report: dict[str, Any], folder: str, max_locations: int = DEFAULT_MAX_LOCATIONS, seed: int = 0,
                         protocol: LatencyProtocol | None = None, allow_slower: bool = False,
                         rtol: float = 1e-4, atol: float = 1e-4) -> dict[str, Any]:
    """Verifies and times the candidates against the original; writes the first one not slower, and the results.

    Shared by every producer of an optimized graph (the searches here, the
    agent runs' candidates): optimized.onnx appears only when it verified;
    result.json always holds `report` updated with the verification. The
    candidates are tried in the order given (cheapest first): each is
    exported, checked equal to the original and timed against it under
    `protocol`. The first whose latency verdict is not "slower" is exported
    (with allow_slower, the first at all); when every one is slower the
    original model itself is written as optimized.onnx. Candidates whose
    graph (by hash) was already tried are skipped.

    Args:
        loaded: the original model, its engine graph and the verification inputs.
        library: the rules the producers applied (to blame one on a mismatch).
        candidates: the graphs to try, cheapest first (at least one).
        report: result.json's other fields; it must hold initial_cost_ms (an
            exported original costs that).
        folder: an existing, writable output folder.
        max_locations: the location cap the producers used.
        seed: seed of the random inputs of inputs not in loaded.feeds.
        protocol: how the models are timed (default LatencyProtocol()).
        allow_slower: export the first candidate even when it measures slower.
        rtol, atol: verification tolerance.

    Returns:
        The report with the exported candidate's fields and verified,
        max_abs_diff, max_rel_diff, latency_ms_original,
        latency_ms_optimized, latency_change, latency_noise,
        latency_verdict, latency_protocol, exported ("optimized" or
        "original"), rejected_candidates (source, cost and latency of each
        candidate set aside as slower), export_note (one line when the
        exported graph is not simply the first candidate, or is slower;
        null otherwise) and optimized_onnx filled in.

    Raises:
        VerificationFailed: a candidate differs from the original (result.json
            says which rule broke equivalence; no optimized.onnx is written).
        OptimizeInputError: no candidates, or a bad protocol or allow_slower.
    """
    protocol = _checked_export_options(protocol, allow_slower)
    if not candidates:
        raise OptimizeInputError("write_verified_graph needs at least one candidate graph")
    optimized_path, unverified_path, result_path = (os.path.join(folder, name) for name in (OPTIMIZED_FILE, _UNVERIFIED_FILE, RESULT_FILE))
    for stale in (optimized_path, unverified_path, result_path):
        _remove(stale)
    base = {**report, "verified": False, "max_abs_diff": None, "max_rel_diff": None, "rtol": rtol, "atol": atol,
            "latency_protocol": protocol.describe(), "allow_slower": allow_slower, "latency_ms_original": None,
            "latency_ms_optimized": None, "latency_change": None, "latency_noise": None, "latency_verdict": None,
            "exported": None, "rejected_candidates": [], "export_note": None, "optimized_onnx": None, "failing_rule": None}
    rejected: list[dict[str, Any]] = []
    tried: set[int] = set()
    for candidate in candidates:
        if candidate.graph.hash() in tried:
            continue
        tried.add(candidate.graph.hash())
        report = {**base, **candidate.fields}
        verification, failure = _verify_candidate(loaded, candidate.graph, unverified_path, protocol, seed, rtol, atol)
        if verification is not None:
            latency = verification.latency
            report.update(max_abs_diff=verification.max_abs_diff, max_rel_diff=verification.max_rel_diff,
                          latency_ms_original=latency.original_ms, latency_ms_optimized=latency.candidate_ms,
                          latency_change=latency.change, latency_noise=latency.noise, latency_verdict=latency.verdict)
        if failure is not None:
            _remove(unverified_path)
            report.update(_blame(loaded, library, list(candidate.steps), candidate.graph, max_locations, rtol, atol))
            report["error"] = f"verification failed: {failure}; {report.pop('explanation')}"
            _write_json(result_path, report)
            raise VerificationFailed(f"{report['error']}; no {OPTIMIZED_FILE} written, details in {result_path}", report)
        if latency.verdict == "slower" and not allow_slower:
            rejected.append({"source": candidate.source, "final_cost_ms": candidate.fields.get("final_cost_ms"),
                             "max_abs_diff": verification.max_abs_diff, "latency_ms_original": latency.original_ms,
                             "latency_ms_candidate": latency.candidate_ms, "latency_change": latency.change,
                             "latency_noise": latency.noise, "latency_verdict": latency.verdict})
            _remove(unverified_path)
            continue
        os.replace(unverified_path, optimized_path)
        note = None
        if latency.verdict == "slower":
            note = (f"{candidate.source}'s graph measured slower in onnxruntime "
                    f"({_latency_text(latency.change, latency.noise, latency.verdict)}) and is exported anyway (allow_slower)")
        elif rejected:
            note = (f"{_rejections_text(rejected)}, so {candidate.source}'s graph "
                    f"({_latency_text(latency.change, latency.noise, latency.verdict)}) is exported")
        report.update(verified=True, optimized_onnx=OPTIMIZED_FILE, exported="optimized", rejected_candidates=rejected, export_note=note)
        _write_json(result_path, report)
        return report
    # Every candidate measured slower: the original itself is the result, and it is exactly as fast as itself.
    _save_original(loaded, optimized_path)
    original_ms = rejected[0]["latency_ms_original"]
    note = f"{_rejections_text(rejected)}, so the original graph is exported (allow_slower would export the candidate)"
    report = dict(base)
    report.update(final_cost_ms=report["initial_cost_ms"], cost_reduction=0.0, applied=[], steps=[], verified=True,
                  max_abs_diff=0.0, max_rel_diff=0.0, latency_ms_original=original_ms, latency_ms_optimized=original_ms,
                  latency_change=0.0, latency_noise=0.0, latency_verdict="same", exported="original",
                  rejected_candidates=rejected, export_note=note, optimized_onnx=OPTIMIZED_FILE)
    _write_json(result_path, report)
    return report


def optimize(
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    search: str = "greedy",
    alpha: float | None = None,
    budget: int | None = None,
    cost_model: str = cost_models.DEFAULT_COST_MODEL,
    device: str | None = None,
    rules: Sequence[str | os.PathLike] | None = None,
    max_locations: int = DEFAULT_MAX_LOCATIONS,
    batch_size: int = 1,
    sequence_length: int | None = None,
    symbolic_dims: Mapping[str, int] | None = None,
    seed: int = 0,
    protocol: LatencyProtocol | None = None,
    allow_slower: bool = False,
    rtol: float = 1e-4,
    atol: float = 1e-4,
    cost_table: str | os.PathLike | None = None,
    time_limit_seconds: float | None = None,
) -> dict[str, Any]:
    """Searches for a cheaper equivalent graph, verifies it in onnxruntime and writes it with a report.

    Args:
        model: a zoo model name or an .onnx path.
        out_dir: the folder for optimized.onnx and result.json (created if missing).
        search: "greedy" or "backtracking".
        alpha: backtracking's relaxation (>= 1, default 1.05); not for greedy.
        budget: backtracking's explored-graph budget (>= 1, default 1000); not for greedy.
        cost_model: "measured" (default: onnxruntime's kernels as they run in
            a graph, from this machine's table in $RLGRAPH_XFLOW_CACHE_DIR/costs.json,
            measuring what it lacks, or from `cost_table`) or "analytic"
            (the roofline of a device profile).
        device: see graphs/cost_models.py (analytic: a profile, default
            h100; measured: None/"local" for this machine, or a table's device key).
        cost_table: a cost-table file for the measured model (measured elsewhere).
        time_limit_seconds: backtracking also stops popping graphs after this
            much wall time (> 0; None: only the budget stops it), for
            comparisons at equal wall-clock; not for greedy.
        rules: rule files or folders; None uses the packaged library.
        max_locations: locations per xfer the search considers.
        batch_size, sequence_length, symbolic_dims: how to load the model (see load_model).
        seed: seed of the verification inputs.
        protocol: how the original and the optimized graph are timed in
            onnxruntime (default LatencyProtocol(); at least 3 rounds).
        allow_slower: export the optimized graph even when it measures
            slower than the original beyond the noise (by default the
            original is exported then).
        rtol, atol: verification tolerance: |optimized - original| <= atol + rtol * |original|.

    Returns:
        The result.json content: model, search, initial_cost_ms,
        final_cost_ms, cost_reduction, applied, search_seconds, verified,
        max_abs_diff, latency_ms_original, latency_ms_optimized,
        latency_change, latency_noise, latency_verdict, latency_protocol,
        exported, rejected_candidates, export_note, and the settings used.

    Raises:
        OptimizeInputError: bad input; nothing is written to out_dir.
        VerificationFailed: the optimized graph differs; result.json is
            written with verified=false, optimized.onnx is not.
        CostError: the measured cost model cannot price an op.
    """
    alpha, budget = _checked_options(search, alpha, budget, cost_model, rtol, atol, max_locations)
    _check_time_limit(search, time_limit_seconds)
    protocol = _checked_export_options(protocol, allow_slower)
    try:
        source = cost_models.resolve_cost_source(cost_model, device, cost_table)
    except CostError as error:
        raise OptimizeInputError(str(error)) from error
    library = _load_library(rules)
    loaded = load_model(model, batch_size=batch_size, sequence_length=sequence_length, symbolic_dims=symbolic_dims, seed=seed)
    folder = _prepare_output_folder(out_dir)
    optimized_path, unverified_path, result_path = (os.path.join(folder, name) for name in (OPTIMIZED_FILE, _UNVERIFIED_FILE, RESULT_FILE))
    for stale in (optimized_path, unverified_path, result_path):
        _remove(stale)

    search_options, device_name = source.search_options(), source.device
    if search == "greedy":
        result = greedy(loaded.graph, library, max_locations=max_locations, **search_options)
    else:
        result = backtracking(loaded.graph, library, alpha=alpha, budget=budget, max_locations=max_locations,
                              time_limit_seconds=time_limit_seconds, **search_options)

    report: dict[str, Any] = {
        "model": loaded.name,
        ORIGINAL_MODEL_KEY: original_model_fields(model, batch_size, sequence_length, symbolic_dims),
        "search": search,
        "cost_model": cost_model,
        "device": device_name,
        "cost_estimate": source.describe(),
        "alpha": alpha if search == "backtracking" else None,
        "budget": budget if search == "backtracking" else None,
        "time_limit_seconds": time_limit_seconds,
        "rules": [os.fspath(path) for path in rules] if rules else "packaged",
        "initial_cost_ms": result.initial_cost,
        "explored": result.explored,
        "search_seconds": result.seconds,
    }
    candidate = ExportCandidate(f"{search} search", result.graph, result.steps, {
        "final_cost_ms": result.final_cost,
        "cost_reduction": (result.initial_cost - result.final_cost) / result.initial_cost if result.initial_cost > 0 else 0.0,
        "applied": list(result.applied),
        "steps": [list(step) for step in result.steps],
    })
    return write_verified_graph(loaded, library, [candidate], report, folder, max_locations=max_locations, seed=seed,
                                protocol=protocol, allow_slower=allow_slower, rtol=rtol, atol=atol)
