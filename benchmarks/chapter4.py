"""Chapter 4 of the dissertation, reproduced: four methods on five graphs, measured in TensorFlow and onnxruntime.

Holds:
  Pure parts (importable without the engine or TensorFlow; tested by
  tests/test_chapter4.py in `make test`):
    GRAPHS, METHODS, DISSERTATION_TABLE_4_2: the graphs, the methods and the
      dissertation's own Table 4.2 (its model-based agent in TensorFlow).
    Settings, full_settings, quick_settings: the budgets, cost model and
      latency protocols of one work folder.
    method_command: the CLI command of one (graph, method, seed).
    run_method, evaluate_graph: a run or an evaluation in a subprocess, saved
      in its folder, skipped when saved.
    summarize, table_lines, last_line: Table 4.2's layout from the saved results.
  main: the command line.

For each graph (squeezenet1_1 resnet18 resnet50 inception_v3 bert_base) and
each seed it runs, each in a subprocess of its own:
  greedy        python -m rlgraph_xflow.optimize GRAPH --search greedy
  ppo           python -m rlgraph_xflow.run configs/ppo_<graph>.yaml seed=N
  backtracking  python -m rlgraph_xflow.optimize GRAPH --search backtracking --alpha 1.05
                --budget 8000 --time-limit <PPO's seconds>: the dissertation's
                budget is 50,000 popped graphs, but every popped graph stays in
                memory (about 1 MB a graph on inception_v3), so 8000 bounds it;
                and it gets the wall-clock of the same seed's PPO run
                (pretraining, training and sampled evaluation), as
                benchmarks/agents.py does; with no PPO result for the seed,
                the budget alone, and its record says so.
  world_model   python -m rlgraph_xflow.run configs/world_model_<graph>.yaml seed=N
All four optimize under one cost model, `--cost-model` (default measured:
onnxruntime's kernels on this machine, device local, the optimize CLI's
default; analytic: the h100 roofline, the agent configs' own default). The
agents get it as env.cost_model/env.device overrides. Every record and the
table header name the cost model each result.json reports.

Then every run that exported a graph is evaluated with
`python -m rlgraph_xflow.evaluate RUN_DIR ... --runtime both`: the runs of one
graph not yet evaluated are measured together against one original
(alternating rounds, median of round medians, noise band, verdict; peak memory
per model in a child process). If that fails, each run is evaluated alone,
so one bad run fails alone.

Saved results. Under `--work-dir` (default .cache/chapter4/, gitignored),
folder `<cost model>` (or `quick-<cost model>`) holds settings.json (the
budgets, overrides and protocols; a second invocation with other settings is
refused: use another --work-dir) and one folder per
`<graph>/<method>/seed<N>/`: run/ (the CLI's --out), run.log, record.json
(the command, exit status, seconds, the failure's one line, the run's
result.json figures) and evaluation.json (this run's entry of the evaluation,
with the runtimes' protocol lines). A run or evaluation whose file is present
is skipped, so runs of several sessions combine; a failure is printed on one
line, recorded, and the rest continue; recorded failures are skipped too
until `--retry-failed`. A folder another live process is running holds a
running.lock and is skipped.

Table (per runtime, TensorFlow first as in Table 4.2): per graph the
baseline, the original in that runtime (median ms of the originals' medians
over the evaluations, the range of their round medians, peak memory MiB),
then per method the improvement in time (100 x the evaluation's
runtime_improvement, i.e. minus the median per-round change; positive is
faster) with its noise band and verdicts, and in memory (100 x minus the
peak-memory change; positive is smaller), medians over the seeds evaluated;
then the dissertation's model-based agent (its TensorFlow baseline in ms and
GiB, on its i7-10750H + RTX 2070, and its improvements).

Commands:
  .venv/bin/python benchmarks/chapter4.py
      all five graphs, seeds 0 1 2, all four methods (hours; run in parts).
  .venv/bin/python benchmarks/chapter4.py --graphs squeezenet1_1 resnet18 --seeds 0 --methods greedy ppo
  .venv/bin/python benchmarks/chapter4.py --cost-model analytic --graphs bert_base
  .venv/bin/python benchmarks/chapter4.py --quick
      squeezenet1_1, seed 0, tiny budgets (8 env steps, backtracking budget
      20, 3 x 3 latency rounds): every stage, about 100 s on 2 cores.

Output: the progress (one line a run), the failures (one line each), a table
per runtime, the JSON of every figure (`--json-out`, default
<work folder>/chapter4.json). Last line, TensorFlow's figures:
`chapter4 GRAPH=method:time_pct/mem_pct,... ...` (improvements in percent,
medians over seeds, 2 decimals, n/a where not measured). Exit status 2 on a
bad argument (one `error:` line); 0 otherwise, failures included (they are
in the table).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import difflib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Mapping, NoReturn, Optional, Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRAPHS = ("squeezenet1_1", "resnet18", "resnet50", "inception_v3", "bert_base")
METHODS = ("greedy", "backtracking", "ppo", "world_model")
SEARCHES = ("greedy", "backtracking")
# configs/<agent>_<stem>.yaml per graph.
CONFIG_STEMS = {"squeezenet1_1": "squeezenet", "resnet18": "resnet18", "resnet50": "resnet50", "inception_v3": "inception",
                "bert_base": "bert"}
# Table 4.2 is TensorFlow's: it comes first.
RUNTIMES = ("tensorflow", "onnxruntime")
# Cost model -> the device all four methods price on.
COST_MODEL_DEVICES = {"measured": "local", "analytic": "h100"}
DEFAULT_COST_MODEL = "measured"
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_WORK_DIR = os.path.join(REPO_ROOT, ".cache", "chapter4")
BACKTRACKING_ALPHA = 1.05
DISSERTATION_BUDGET = 50000
BACKTRACKING_BUDGET = 8000
EXIT_BAD_ARGUMENT = 2
SETTINGS_FILE = "settings.json"
RECORD_FILE = "record.json"
EVALUATION_FILE = "evaluation.json"
EVALUATION_FAILURE_FILE = "evaluation_failure.json"
LOCK_FILE = "running.lock"
RUN_FOLDER = "run"
RUN_LOG = "run.log"
# The fields of a run's result.json a record keeps.
RESULT_FIELDS = ("model", "agent", "search", "cost_model", "device", "cost_estimate", "initial_cost_ms", "final_cost_ms",
                 "cost_reduction", "latency_ms_original", "latency_ms_optimized", "latency_change", "latency_noise",
                 "latency_verdict", "latency_protocol", "exported", "verified", "search_seconds", "explored", "budget",
                 "time_limit_seconds", "train_seconds", "pretraining_seconds", "sampled_evaluation_seconds", "env_steps")


@dataclasses.dataclass(frozen=True)
class DissertationFigures:
    """One row of the dissertation's Table 4.2: TensorFlow's baseline and its model-based agent's improvement."""

    baseline_ms: float
    baseline_gib: float
    time_pct: float
    memory_pct: float


# Table 4.2 of the dissertation (../shared/seeds/001_78c0c79d707760ec.txt), measured on its machine.
DISSERTATION_TABLE_4_2 = {
    "resnet18": DissertationFigures(12.2, 1.18, 3.0, 1.1),
    "resnet50": DissertationFigures(26.7, 2.34, 1.0, 0.6),
    "inception_v3": DissertationFigures(17.6, 2.11, 12.5, 2.3),
    "squeezenet1_1": DissertationFigures(4.6, 1.14, 18.9, 1.8),
    "bert_base": DissertationFigures(4.1, 0.26, 54.1, 4.5),
}
DISSERTATION_MACHINE = "TensorFlow on the dissertation's i7-10750H + RTX 2070"

# --quick: every stage on squeezenet1_1 in minutes (the budgets of tests/test_configs.py's brief runs).
QUICK_AGENT_OVERRIDES = ("training.total_env_steps=8", "training.checkpoint_every=1", "training.random_baseline_episodes=1",
                         "training.sampled_evaluation_episodes=0", "agent.num_envs=2", "agent.rollout_steps=4",
                         "agent.epochs=1", "agent.minibatch_size=8", "env.max_steps=3")
QUICK_BACKTRACKING_BUDGET = 20
QUICK_LATENCY = (3, 3)
FULL_LATENCY = (7, 10)


class BadArgument(ValueError):
    """A command-line value the benchmark cannot use; main prints it on one line and exits 2."""


# --------------------------------------------------------------------------------------------------
# Settings


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every run and evaluation of one work folder shares.

    Attributes:
        quick: the --quick budgets.
        cost_model, device: what all four methods price with.
        backtracking_budget: graphs backtracking pops at most.
        agent_overrides: config overrides of every agent run (beyond seed=N).
        run_latency: (rounds, runs per round) of the runs' own export check.
        evaluation_latency: (rounds, runs per round) of the evaluation.
    """

    quick: bool
    cost_model: str
    device: str
    backtracking_budget: int
    agent_overrides: tuple
    run_latency: tuple
    evaluation_latency: tuple

    @property
    def folder_name(self) -> str:
        return f"quick-{self.cost_model}" if self.quick else self.cost_model

    def to_dict(self) -> dict:
        return {"quick": self.quick, "cost_model": self.cost_model, "device": self.device, "alpha": BACKTRACKING_ALPHA,
                "backtracking_budget": self.backtracking_budget, "agent_overrides": list(self.agent_overrides),
                "run_latency": list(self.run_latency), "evaluation_latency": list(self.evaluation_latency)}


def _cost_overrides(cost_model: str) -> tuple:
    return (f"env.cost_model={cost_model}", f"env.device={COST_MODEL_DEVICES[cost_model]}")


def full_settings(cost_model: str = DEFAULT_COST_MODEL) -> Settings:
    """The experiment: the configs' budgets, backtracking capped at BACKTRACKING_BUDGET, 7 x 10 latency rounds."""
    return Settings(False, cost_model, COST_MODEL_DEVICES[cost_model], BACKTRACKING_BUDGET, _cost_overrides(cost_model),
                    FULL_LATENCY, FULL_LATENCY)


def quick_settings(cost_model: str = DEFAULT_COST_MODEL) -> Settings:
    """--quick: tiny training and search budgets and 3 x 3 latency rounds."""
    return Settings(True, cost_model, COST_MODEL_DEVICES[cost_model], QUICK_BACKTRACKING_BUDGET,
                    _cost_overrides(cost_model) + QUICK_AGENT_OVERRIDES, QUICK_LATENCY, QUICK_LATENCY)


def prepare_setting_folder(work_dir: str, settings: Settings) -> str:
    """Creates <work_dir>/<settings.folder_name> with settings.json; returns it.

    Raises:
        BadArgument: the work folder cannot be written, or holds results of other settings.
    """
    folder = os.path.join(work_dir, settings.folder_name)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise BadArgument(f"--work-dir {work_dir!r} cannot be written: {error.strerror or error}") from error
    path = os.path.join(folder, SETTINGS_FILE)
    wanted = settings.to_dict()
    if os.path.isfile(path):
        saved = _read_json(path)
        if saved != wanted:
            differing = sorted(key for key in set(saved or {}) | set(wanted) if (saved or {}).get(key) != wanted.get(key))
            raise BadArgument(f"{folder} holds results of other settings (differing: {', '.join(differing)}); "
                              f"give another --work-dir to run with these")
    else:
        _write_json(path, wanted)
    return folder


# --------------------------------------------------------------------------------------------------
# Files


def _read_json(path: str) -> Any:
    """The file's JSON, or None when it is missing or unreadable (a run cut off while writing it)."""
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


def _write_json(path: str, document: Any) -> None:
    """Writes through a temporary file and a rename, so a reader never sees half a record."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(document, stream, indent=2)
        stream.write("\n")
    os.replace(temporary, path)


def run_folder(setting_folder: str, graph: str, method: str, seed: int) -> str:
    return os.path.join(setting_folder, graph, method, f"seed{seed}")


def _say(line: str) -> None:
    """Progress, flushed: the runs take hours and their own output goes to their logs."""
    print(line, flush=True)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _take_lock(folder: str) -> Optional[str]:
    """Claims the folder for this process; returns None, or who holds it (a live process on this host)."""
    path = os.path.join(folder, LOCK_FILE)
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = _read_json(path) or {}
            pid, host = holder.get("pid"), holder.get("host")
            if host == socket.gethostname() and isinstance(pid, int) and _process_alive(pid):
                return f"process {pid}"
            if host not in (None, socket.gethostname()):
                return f"host {host}, process {pid}"
            os.remove(path)  # left by a process that died
            continue
        with os.fdopen(descriptor, "w") as stream:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}, stream)
        return None
    return "another process (the lock came back)"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_lock(folder: str) -> None:
    try:
        os.remove(os.path.join(folder, LOCK_FILE))
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------------------------------
# Runs


def _config_path(graph: str, method: str) -> str:
    return os.path.join(REPO_ROOT, "configs", f"{method}_{CONFIG_STEMS[graph]}.yaml")


def _sequence_length(graph: str) -> Optional[int]:
    """The sequence length the agents' config gives the graph, so the searches optimize the same graph."""
    from rlgraph_xflow.config import load_config

    return load_config(_config_path(graph, "ppo")).get("env.sequence_length")


def method_command(settings: Settings, graph: str, method: str, seed: int, out_dir: str,
                   time_limit_seconds: Optional[float] = None) -> list[str]:
    """The CLI command that runs one method on one graph with one seed, writing into out_dir.

    Args:
        settings: the work folder's settings.
        graph, method, seed: what to run.
        out_dir: the CLI's --out.
        time_limit_seconds: backtracking's wall-clock limit (None: the budget alone).
    """
    if method in SEARCHES:
        command = [sys.executable, "-m", "rlgraph_xflow.optimize", graph, "--search", method,
                   "--cost-model", settings.cost_model, "--device", settings.device, "--seed", str(seed),
                   "--latency-rounds", str(settings.run_latency[0]), "--latency-runs-per-round", str(settings.run_latency[1])]
        sequence_length = _sequence_length(graph)
        if sequence_length is not None:
            command += ["--sequence-length", str(sequence_length)]
        if method == "backtracking":
            command += ["--alpha", str(BACKTRACKING_ALPHA), "--budget", str(settings.backtracking_budget)]
            if time_limit_seconds is not None:
                command += ["--time-limit", f"{max(time_limit_seconds, 0.1):.1f}"]
        return command + ["--out", out_dir]
    latency = (f"export.latency_rounds={settings.run_latency[0]}", f"export.latency_runs_per_round={settings.run_latency[1]}")
    pretraining = []
    if settings.quick:
        from rlgraph_xflow.config import load_config

        if load_config(_config_path(graph, method)).get("training.pretraining") is not None:
            pretraining = ["training.pretraining.total_env_steps=8"]
    return [sys.executable, "-m", "rlgraph_xflow.run", _config_path(graph, method), f"seed={seed}",
            *settings.agent_overrides, *pretraining, *latency, "--out", out_dir]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A finished subprocess: its exit status, wall seconds, and its failure in one line (None if it succeeded)."""

    exit_status: int
    seconds: float
    failure: Optional[str]


def _failure_line(log_path: str, exit_status: int) -> str:
    """The last `error:` line of the log, else its last non-empty line (a traceback's message), with the exit status."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as stream:
            lines = [line.strip() for line in stream if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if line.startswith("error:")]
    message = errors[-1] if errors else (lines[-1] if lines else "no output")
    return f"exit status {exit_status}: {message}"


def execute(command: Sequence[str], log_path: str) -> Outcome:
    """Runs command from the repository root, its stdout and stderr into log_path."""
    environment = dict(os.environ)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        completed = subprocess.run(list(command), stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=environment)
    seconds = time.perf_counter() - start
    failure = None if completed.returncode == 0 else _failure_line(log_path, completed.returncode)
    return Outcome(completed.returncode, seconds, failure)


def _ppo_seconds(setting_folder: str, graph: str, seed: int) -> Optional[float]:
    """The wall-clock of the same seed's PPO run (pretraining, training, sampled evaluation), or None without one."""
    record = _read_json(os.path.join(run_folder(setting_folder, graph, "ppo", seed), RECORD_FILE))
    if not record or record.get("status") != "ok":
        return None
    result = record.get("result") or {}
    seconds = sum(float(result.get(key) or 0.0) for key in ("pretraining_seconds", "train_seconds", "sampled_evaluation_seconds"))
    return seconds if seconds > 0 else None


def run_method(settings: Settings, setting_folder: str, graph: str, method: str, seed: int, retry_failed: bool = False,
               runner: Callable[[Sequence[str], str], Outcome] = execute, say: Callable[[str], None] = _say) -> Optional[dict]:
    """Runs one (graph, method, seed) unless its record is saved; returns the record (None: another process runs it).

    A failed run is recorded with its failure line and skipped next time
    unless retry_failed. `runner` runs the command (execute: a subprocess).
    """
    folder = run_folder(setting_folder, graph, method, seed)
    os.makedirs(folder, exist_ok=True)
    label = f"{graph} {method} seed {seed}"
    record = _read_json(os.path.join(folder, RECORD_FILE))
    if record and (record.get("status") == "ok" or not retry_failed):
        state = "saved" if record.get("status") == "ok" else f"failed before ({record.get('failure')}; --retry-failed reruns it)"
        say(f"{label}: skipped, {state}")
        return record
    holder = _take_lock(folder)
    if holder is not None:
        say(f"{label}: skipped, {holder} is running it")
        return None
    try:
        time_limit, time_limit_source = None, None
        if method == "backtracking":
            time_limit = _ppo_seconds(setting_folder, graph, seed)
            time_limit_source = ("PPO's pretraining, training and sampled evaluation, same seed" if time_limit is not None
                                 else "none: no PPO result for this seed; the budget alone")
        out_dir = os.path.join(folder, RUN_FOLDER)
        shutil.rmtree(out_dir, ignore_errors=True)  # a run cut off earlier: start afresh
        for stale in (EVALUATION_FILE, EVALUATION_FAILURE_FILE):
            if os.path.exists(os.path.join(folder, stale)):
                os.remove(os.path.join(folder, stale))
        command = method_command(settings, graph, method, seed, out_dir, time_limit)
        say(f"{label}: running ({' '.join(command[1:4])} ...)")
        outcome = runner(command, os.path.join(folder, RUN_LOG))
        result = _read_json(os.path.join(out_dir, "result.json")) if outcome.failure is None else None
        failure = outcome.failure
        if failure is None and not (isinstance(result, dict) and os.path.isfile(os.path.join(out_dir, "optimized.onnx"))):
            failure = "exit status 0 but no result.json and optimized.onnx in its --out"
        record = {"graph": graph, "method": method, "seed": seed, "status": "ok" if failure is None else "failed",
                  "failure": failure, "exit_status": outcome.exit_status, "seconds": round(outcome.seconds, 3),
                  "command": command, "run_dir": RUN_FOLDER, "log": RUN_LOG, "time_limit_seconds": time_limit,
                  "time_limit_source": time_limit_source, "finished": _now(),
                  "result": {key: result.get(key) for key in RESULT_FIELDS if key in result} if isinstance(result, dict) else None}
        _write_json(os.path.join(folder, RECORD_FILE), record)
    finally:
        _release_lock(folder)
    say(f"{label}: {'done' if failure is None else 'FAILED, ' + failure} ({outcome.seconds:.0f} s)")
    return record


# --------------------------------------------------------------------------------------------------
# Evaluation


def evaluation_command(settings: Settings, run_dirs: Sequence[str], out_dir: str) -> list[str]:
    return [sys.executable, "-m", "rlgraph_xflow.evaluate", *run_dirs, "--runtime", "both", "--out", out_dir,
            "--latency-rounds", str(settings.evaluation_latency[0]),
            "--latency-runs-per-round", str(settings.evaluation_latency[1])]


def _save_evaluations(out_dir: str, folders: Sequence[str], setting_folder: str) -> Optional[str]:
    """Splits evaluate's evaluation.json into one file per run folder; returns a failure line or None."""
    document = _read_json(os.path.join(out_dir, "evaluation.json"))
    if not isinstance(document, dict):
        return f"no readable evaluation.json in {out_dir}"
    by_run_dir = {os.path.realpath(entry["run_dir"]): entry for entry in document.get("entries", []) if entry.get("run_dir")}
    for folder in folders:
        entry = by_run_dir.get(os.path.realpath(os.path.join(folder, RUN_FOLDER)))
        if entry is None:
            return f"{out_dir}/evaluation.json has no entry for {folder}"
        _write_json(os.path.join(folder, EVALUATION_FILE),
                    {"evaluation_dir": os.path.relpath(out_dir, setting_folder), "protocol": document["protocol"],
                     "runtimes": document["runtimes"], "entry": entry})
    return None


def evaluate_graph(settings: Settings, setting_folder: str, graph: str, folders: Sequence[str], retry_failed: bool = False,
                   runner: Callable[[Sequence[str], str], Outcome] = execute, say: Callable[[str], None] = _say) -> list[str]:
    """Evaluates the graph's run folders that have a graph and no saved evaluation; returns the failure lines.

    All of them are measured in one evaluate command against one original;
    if it fails, each is evaluated alone, so one bad run fails alone.
    """
    pending = []
    for folder in folders:
        if os.path.isfile(os.path.join(folder, EVALUATION_FILE)):
            continue
        failed = _read_json(os.path.join(folder, EVALUATION_FAILURE_FILE))
        if failed and not retry_failed:
            say(f"{_folder_label(folder, setting_folder)}: evaluation skipped, failed before ({failed.get('failure')})")
            continue
        pending.append(folder)
    if not pending:
        return []
    groups = [pending] + ([[folder] for folder in pending] if len(pending) > 1 else [])
    failures = []
    for group in groups:
        if group is not pending and os.path.isfile(os.path.join(group[0], EVALUATION_FILE)):
            continue
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        out_dir = os.path.join(setting_folder, graph, "evaluations", stamp)
        os.makedirs(out_dir)
        names = ", ".join(_folder_label(folder, setting_folder) for folder in group)
        say(f"{graph}: evaluating {names} in TensorFlow and onnxruntime")
        outcome = runner(evaluation_command(settings, [os.path.join(folder, RUN_FOLDER) for folder in group], out_dir),
                         os.path.join(out_dir, "evaluate.log"))
        failure = outcome.failure or _save_evaluations(out_dir, group, setting_folder)
        if failure is None:
            say(f"{graph}: evaluated {names} ({outcome.seconds:.0f} s)")
            if group is pending:
                break
            continue
        if len(group) > 1:
            say(f"{graph}: evaluating {names} together failed ({failure}); evaluating each alone")
            continue
        line = f"{names}: evaluation FAILED, {failure}"
        say(line)
        failures.append(line)
        _write_json(os.path.join(group[0], EVALUATION_FAILURE_FILE),
                    {"failure": failure, "log": os.path.relpath(os.path.join(out_dir, "evaluate.log"), setting_folder),
                     "finished": _now()})
    return failures


def _folder_label(folder: str, setting_folder: str) -> str:
    graph, method, seed = os.path.relpath(folder, setting_folder).split(os.sep)
    return f"{graph} {method} {seed.replace('seed', 'seed ')}"


# --------------------------------------------------------------------------------------------------
# The table


def _median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def summarize(setting_folder: str, graphs: Sequence[str], methods: Sequence[str], seeds: Sequence[int]) -> dict:
    """Table 4.2's figures from the saved records and evaluations of the given graphs, methods and seeds.

    Returns:
        {"runtimes": {runtime: {"name", "protocols", "memory_measures", "rows": {graph: {"baseline", "methods",
        "dissertation"}}}}, "cost_models": {method: [cost model and device, ...]}, "failures": [lines],
        "missing": [lines]}. A baseline is the median over the graph's
        evaluations (one per evaluate command) of the original's median_ms
        and peak_memory_mib, with the range of its round medians; a method's
        cell holds, over the seeds evaluated, the median of 100 x
        runtime_improvement (time_pct), of 100 x the noise (noise_pct), of
        -100 x memory_change (memory_pct), the verdicts, the seeds and how
        many runs exported their original.
    """
    runtimes: dict[str, dict] = {}
    cost_models: dict[str, list] = {method: [] for method in methods}
    failures, missing = [], []
    for graph in graphs:
        originals: dict[str, dict[str, dict]] = {runtime: {} for runtime in RUNTIMES}
        cells: dict[str, dict[str, list]] = {runtime: {method: [] for method in methods} for runtime in RUNTIMES}
        for method in methods:
            for seed in seeds:
                folder = run_folder(setting_folder, graph, method, seed)
                label = f"{graph} {method} seed {seed}"
                record = _read_json(os.path.join(folder, RECORD_FILE))
                if not record:
                    missing.append(f"{label}: not run")
                    continue
                if record.get("status") != "ok":
                    failures.append(f"{label}: run failed, {record.get('failure')}")
                    continue
                result = record.get("result") or {}
                described = f"{result.get('cost_model')} {result.get('device')}"
                if described not in cost_models[method]:
                    cost_models[method].append(described)
                evaluation = _read_json(os.path.join(folder, EVALUATION_FILE))
                if not evaluation:
                    failed = _read_json(os.path.join(folder, EVALUATION_FAILURE_FILE))
                    if failed:
                        failures.append(f"{label}: evaluation failed, {failed.get('failure')}")
                    else:
                        missing.append(f"{label}: not evaluated")
                    continue
                entry = evaluation["entry"]
                for runtime, figures in entry["runtimes"].items():
                    if runtime not in RUNTIMES or figures.get("optimized") is None:
                        continue
                    header = runtimes.setdefault(runtime, {"name": None, "protocols": [], "memory_measures": [], "rows": {}})
                    described_runtime = evaluation["runtimes"][runtime]
                    header["name"] = header["name"] or described_runtime["name"]
                    if described_runtime["protocol"] not in header["protocols"]:
                        header["protocols"].append(described_runtime["protocol"])
                    for measure in described_runtime["memory_measures"]:
                        if measure not in header["memory_measures"]:
                            header["memory_measures"].append(measure)
                    originals[runtime][evaluation["evaluation_dir"]] = figures["original"]
                    memory_change = figures.get("memory_change")
                    cells[runtime][method].append({
                        "seed": seed, "time_pct": 100 * figures["runtime_improvement"], "noise_pct": 100 * figures["latency_noise"],
                        "verdict": figures["latency_verdict"],
                        "memory_pct": None if memory_change is None else -100 * memory_change,
                        "exported_original": entry.get("exported") == "original"})
        for runtime, header in runtimes.items():
            if not originals[runtime]:
                continue
            measured = list(originals[runtime].values())
            header["rows"][graph] = {
                "baseline": {"median_ms": _median([figures["median_ms"] for figures in measured]),
                             "band_ms": [min(figures["band_ms"][0] for figures in measured),
                                         max(figures["band_ms"][1] for figures in measured)],
                             "peak_memory_mib": _median([figures["peak_memory_mib"] for figures in measured]),
                             "evaluations": len(measured)},
                "methods": {method: _cell(cells[runtime][method]) for method in methods},
                "dissertation": dataclasses.asdict(DISSERTATION_TABLE_4_2[graph]) if graph in DISSERTATION_TABLE_4_2 else None,
            }
    ordered = {runtime: runtimes[runtime] for runtime in RUNTIMES if runtime in runtimes}
    return {"runtimes": ordered, "cost_models": cost_models, "failures": failures, "missing": missing}


def _cell(per_seed: Sequence[dict]) -> Optional[dict]:
    if not per_seed:
        return None
    memory = [item["memory_pct"] for item in per_seed if item["memory_pct"] is not None]
    verdicts = [item["verdict"] for item in per_seed]
    return {"time_pct": _median([item["time_pct"] for item in per_seed]),
            "noise_pct": _median([item["noise_pct"] for item in per_seed]),
            "memory_pct": _median(memory),
            "verdicts": {verdict: verdicts.count(verdict) for verdict in ("faster", "same", "slower") if verdict in verdicts},
            "seeds": [item["seed"] for item in per_seed],
            "exported_original": sum(item["exported_original"] for item in per_seed),
            "per_seed": list(per_seed)}


def _time_text(cell: Optional[dict]) -> str:
    if cell is None:
        return "n/a"
    verdicts = ", ".join(f"{verdict} {count}" for verdict, count in cell["verdicts"].items())
    original = f"; {cell['exported_original']} exported the original" if cell["exported_original"] else ""
    return f"{cell['time_pct']:+.1f}% ±{cell['noise_pct']:.1f} ({verdicts}{original})"


def _memory_text(cell: Optional[dict]) -> str:
    return "n/a" if cell is None or cell["memory_pct"] is None else f"{cell['memory_pct']:+.1f}%"


def table_lines(summary: Mapping[str, Any], methods: Sequence[str], settings: Settings) -> list[str]:
    """Table 4.2's layout, one table per runtime, with the cost models and protocols named."""
    # Methods that optimized under the same cost model share one mention of it (its description is long).
    by_cost: dict[str, list] = {}
    for method in methods:
        by_cost.setdefault(", ".join(summary["cost_models"][method]) or "no run", []).append(method)
    costs = "; ".join(f"{', '.join(grouped)}: {described}" for described, grouped in by_cost.items())
    lines = ["chapter4: each method's graph against the original; improvement in time and memory, positive = faster / "
             "smaller; medians over seeds",
             f"optimized under the cost model (result.json's cost_model device): {costs}; backtracking alpha "
             f"{BACKTRACKING_ALPHA}, budget {settings.backtracking_budget} popped graphs (the dissertation's "
             f"{DISSERTATION_BUDGET} capped for memory) and the same seed's PPO seconds"
             + ("; QUICK budgets (not the experiment)" if settings.quick else "")]
    for runtime, header in summary["runtimes"].items():
        lines += ["", f"## {header['name']}", f"timing: {' | '.join(header['protocols'])}",
                  f"memory: {', '.join(header['memory_measures'])}, MiB"]
        columns = ["graph", "baseline ms (round medians)", "baseline MiB"]
        for method in methods:
            columns += [f"{method} time", f"{method} memory"]
        columns.append(f"dissertation MB-RL time / memory (baseline; {DISSERTATION_MACHINE})")
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for graph, row in header["rows"].items():
            baseline = row["baseline"]
            cells = [graph, f"{baseline['median_ms']:.3f} ({baseline['band_ms'][0]:.3f}-{baseline['band_ms'][1]:.3f})",
                     f"{baseline['peak_memory_mib']:.1f}"]
            for method in methods:
                cells += [_time_text(row["methods"][method]), _memory_text(row["methods"][method])]
            paper = row["dissertation"]
            cells.append("n/a" if paper is None else f"+{paper['time_pct']:.1f}% / +{paper['memory_pct']:.1f}% "
                                                     f"({paper['baseline_ms']} ms, {paper['baseline_gib']} GiB)")
            lines.append("| " + " | ".join(cells) + " |")
    if not summary["runtimes"]:
        lines += ["", "no evaluated run yet"]
    for line in summary["failures"]:
        lines.append(f"failed: {line}")
    for line in summary["missing"]:
        lines.append(f"missing: {line}")
    return lines


def _figure(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def last_line(summary: Mapping[str, Any], graphs: Sequence[str], methods: Sequence[str]) -> str:
    """`chapter4 GRAPH=method:time_pct/mem_pct,...`: TensorFlow's improvements, medians over seeds."""
    rows = summary["runtimes"].get("tensorflow", {}).get("rows", {})
    cells = []
    for graph in graphs:
        row = rows.get(graph, {}).get("methods", {})
        figures = []
        for method in methods:
            cell = row.get(method)
            figures.append(f"{method}:{_figure(cell and cell['time_pct'])}/{_figure(cell and cell['memory_pct'])}")
        cells.append(f"{graph}={','.join(figures)}")
    return "chapter4 " + " ".join(cells)


# --------------------------------------------------------------------------------------------------
# The command


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `error:` line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_ARGUMENT, f"error: {message} (see {self.prog} --help)\n")


def _seed(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected integers >= 0, found {text!r}")
    return int(text)


def _choice(known: Sequence[str]):
    def parse(text: str) -> str:
        if text in known:
            return text
        close = difflib.get_close_matches(text, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise argparse.ArgumentTypeError(f"unknown {text!r}{hint} (known: {', '.join(known)})")
    return parse


def parse_arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = _ArgumentParser(prog="benchmarks/chapter4.py", description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", nargs="+", type=_choice(GRAPHS), default=None,
                        help=f"default: all five ({' '.join(GRAPHS)}); --quick: squeezenet1_1")
    parser.add_argument("--seeds", nargs="+", type=_seed, default=None, help="default 0 1 2; --quick: 0")
    parser.add_argument("--methods", nargs="+", type=_choice(METHODS), default=list(METHODS))
    parser.add_argument("--cost-model", choices=tuple(COST_MODEL_DEVICES), default=DEFAULT_COST_MODEL,
                        help="what all four methods optimize under: measured (device local) or analytic (device h100)")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR, help="saved runs and evaluations (default .cache/chapter4)")
    parser.add_argument("--json-out", default=None, help="default: <work dir>/<cost model>/chapter4.json")
    parser.add_argument("--quick", action="store_true", help="squeezenet1_1, seed 0, tiny budgets: every stage in minutes")
    parser.add_argument("--retry-failed", action="store_true", help="rerun runs and evaluations recorded as failed")
    parser.add_argument("--no-run", action="store_true", help="only print the table of what is saved")
    arguments = parser.parse_args(argv)
    if arguments.quick and arguments.graphs is not None and arguments.graphs != ["squeezenet1_1"]:
        parser.error("--quick runs squeezenet1_1 only; leave out --graphs")
    arguments.graphs = list(dict.fromkeys(arguments.graphs or (["squeezenet1_1"] if arguments.quick else GRAPHS)))
    arguments.seeds = list(dict.fromkeys(arguments.seeds if arguments.seeds is not None else ([0] if arguments.quick else DEFAULT_SEEDS)))
    # PPO before backtracking, which takes PPO's seconds as its time limit.
    arguments.methods = [method for method in ("greedy", "ppo", "backtracking", "world_model") if method in arguments.methods]
    return arguments


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = parse_arguments(argv)
    settings = quick_settings(arguments.cost_model) if arguments.quick else full_settings(arguments.cost_model)
    try:
        setting_folder = prepare_setting_folder(os.path.abspath(arguments.work_dir), settings)
    except BadArgument as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_BAD_ARGUMENT
    if not arguments.no_run:
        for graph in arguments.graphs:
            folders = []
            for seed in arguments.seeds:
                for method in arguments.methods:
                    record = run_method(settings, setting_folder, graph, method, seed, arguments.retry_failed)
                    if record and record.get("status") == "ok":
                        folders.append(run_folder(setting_folder, graph, method, seed))
            evaluate_graph(settings, setting_folder, graph, folders, arguments.retry_failed)
    methods = [method for method in METHODS if method in arguments.methods]
    summary = summarize(setting_folder, arguments.graphs, methods, arguments.seeds)
    line = last_line(summary, arguments.graphs, methods)
    json_out = arguments.json_out or os.path.join(setting_folder, "chapter4.json")
    _write_json(json_out, {"settings": settings.to_dict(), "graphs": arguments.graphs, "methods": methods,
                           "seeds": arguments.seeds, **summary, "last_line": line})
    for text in table_lines(summary, methods, settings):
        print(text)
    print(f"wrote {json_out}")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
