"""`python -m rlgraph_xflow.tune SWEEP.yaml [key=value ...] [--out DIR] [--address ADDRESS]`

The command behind the rlgraph_xflow.tune entry point. Runs a
hyperparameter sweep on Ray Tune: grid or random search over dotted config
keys of a run config; every trial is a normal agent run (its own run
directory DIR/trials/<trial> with config.yaml, metrics.csv, checkpoints,
optimized.onnx, result.json, report.md), so trials run in parallel on a
local Ray or on a cluster. At the end DIR/summary.csv and DIR/summary.md
list each trial's parameters and result.json figures; when `seed` is swept
together with other keys, summary.md also gives mean ± standard deviation
over seeds for each setting (the dissertation's Table 4.3 layout).

Classes and functions in this file:
  SweepError: a bad sweep file or command line; says file, line and key.
  Trial: one point of the sweep (its parameters and config overrides).
  Sweep: a parsed sweep file; `trials()` expands its search into Trials.
  load_sweep: reads and checks a sweep file.
  run_trial: one trial's agent run into its run directory.
  TrialFailed: what a trial raises to Tune when its run failed.
  tune_trainable: Ray Tune's function trainable around run_trial.
  run_sweep: runs the trials with a ray.tune.Tuner and writes the summary.
  write_summary: summary.csv and summary.md from the trials' outcomes.
  main: the command line.

A sweep file:

    config: ../quickstart.yaml          # the run config, relative to this file
    overrides: [training.total_env_steps=2304]   # applied to every trial
    search: {type: grid}                # or {type: random, num_samples: 8, seed: 0}
    parameters:
      - key: agent.optimizer.learning_rate
        grid: [1.0e-3, 2.5e-3]
      - keys: [env.reward.alpha, env.reward.beta]     # tied keys: one value list each point
        grid: [[0.8, 0.2], [0.5, 0.5]]
      - key: agent.loss.entropy_coefficient        # random search only:
        loguniform: [1.0e-4, 1.0e-1]               # uniform, loguniform, randint [low, high), choice
    metrics: [final_cost_ms, cost_reduction]       # result.json keys in the summary (optional)
    trial_cpus: 1                                  # CPUs Ray reserves per trial (optional)

Grid values are crossed (every combination). A random search draws its
sampled parameters `num_samples` times per grid combination from a
generator seeded by `search.seed`, so the same sweep file gives the same
trials. Command line `key=value` overrides apply to every trial after the
file's own `overrides` (e.g. a smaller budget); a swept key cannot also be
overridden.

How Tune runs it: the trials are expanded here (above), before Tune
starts, and handed to the Tuner as one `tune.grid_search` over the trials
(index and parameters), so Tune's own sampling never changes which trials
a sweep file means. Each trial runs `tune_trainable` in a fresh actor
process (`reuse_actors=False`: TensorFlow keeps graphs and seeds per
process), with `trial_cpus` CPUs, at most as many at once as the cluster's
CPUs allow (`max_concurrent_trials`). A finished trial reports its
result.json with `tune.report` (under the key "result", next to
"trial_seconds"); a failed one writes error.txt in its run directory and
raises TrialFailed, so Tune marks it ERROR and the
other trials go on (`FailureConfig(max_failures=0)`: a deterministic run
that failed once fails again). Tune's own records (experiment state,
params.json, progress.csv, its result.json, TensorBoard events per trial)
go to DIR/tune/, never to ~/ray_results. A local Ray is started by
RaySession (no dashboard, no authentication token, temp folder outside
$HOME), and trials run in the directory the sweep was started from, so
relative paths in overrides mean the same as for `python -m rlgraph_xflow.run`.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import math
import os
import re
import sys
import time
from typing import Optional, Sequence

import numpy as np

from rlgraph_xflow.runs.agent_run import run_agent
from rlgraph_xflow.config import ConfigError, load_config
from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.core.validation import is_int, is_number
from rlgraph_xflow.execution.ray_execution import RaySession
from rlgraph_xflow.tf_runtime import load_tensorflow

SEARCH_TYPES = ("grid", "random")
SAMPLERS = ("uniform", "loguniform", "randint", "choice")
DEFAULT_METRICS = ("initial_cost_ms", "final_cost_ms", "cost_reduction", "verified", "env_steps", "train_seconds",
                   "random_agent_final_cost_ms")
SWEEP_KEYS = ("config", "overrides", "search", "parameters", "metrics", "trial_cpus", "description")
EXIT_USER_ERROR = 2
EXIT_TRIAL_FAILED = 1


class SweepError(ValueError):
    """A sweep file or command line that cannot be run; the text says where and what."""


@dataclasses.dataclass
class Trial:
    """One point of a sweep.

    Attributes:
        index: position in the sweep (names the run directory).
        parameters: swept key path -> value.
    """

    index: int
    parameters: dict

    @property
    def name(self) -> str:
        parts = [f"{key.rsplit('.', 1)[-1]}={_format_value(value)}" for key, value in self.parameters.items()]
        slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", ",".join(parts))[:80]
        return f"trial-{self.index:03d}" + (f"-{slug}" if slug else "")

    def overrides(self) -> list:
        return [f"{key}={json.dumps(value)}" for key, value in self.parameters.items()]


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if not isinstance(value, str) else value


@dataclasses.dataclass
class Sweep:
    """A parsed sweep file (see the module docstring for its keys)."""

    path: str
    config_path: str
    overrides: list
    search_type: str
    num_samples: int
    seed: int
    parameters: list   # [(key paths tuple, "grid" or a sampler name, argument)]
    metrics: list
    trial_cpus: float

    def trials(self) -> list:
        """Every trial, in a deterministic order."""
        grid = [(keys, argument) for keys, kind, argument in self.parameters if kind == "grid"]
        sampled = [(keys, kind, argument) for keys, kind, argument in self.parameters if kind != "grid"]
        rng = np.random.default_rng(self.seed)
        trials = []
        for combination in itertools.product(*[values for _, values in grid]):
            for _ in range(self.num_samples):
                parameters = {}
                for (keys, _), value in zip(grid, combination):
                    parameters.update(_assign(keys, value))
                for keys, kind, argument in sampled:
                    parameters.update(_assign(keys, _sample(kind, argument, rng)))
                trials.append(Trial(len(trials), parameters))
        return trials


def _assign(keys: tuple, value) -> dict:
    return dict(zip(keys, value)) if len(keys) > 1 else {keys[0]: value}


def _sample(kind: str, argument, rng: np.random.Generator):
    if kind == "choice":
        return argument[int(rng.integers(len(argument)))]
    low, high = argument
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return int(rng.integers(low, high))


def _check_parameter(sweep_file, index: int, entry, search_type: str) -> tuple:
    where = f"parameters[{index}]"
    if not isinstance(entry, dict):
        raise SweepError(str(sweep_file.error(where, f"expected a mapping with 'key' (or 'keys') and one of grid, {', '.join(SAMPLERS)}; got {entry!r}")))
    if ("key" in entry) == ("keys" in entry):
        raise SweepError(str(sweep_file.error(where, "give exactly one of 'key' (one config key) or 'keys' (tied keys)")))
    keys = (entry["key"],) if "key" in entry else entry["keys"]
    if isinstance(keys, list):
        keys = tuple(keys)
    if not isinstance(keys, tuple) or not keys or not all(isinstance(key, str) and key for key in keys):
        raise SweepError(str(sweep_file.error(where, f"expected config key paths as strings, e.g. agent.optimizer.learning_rate; got {keys!r}")))
    kinds = [kind for kind in ("grid", *SAMPLERS) if kind in entry]
    unknown = sorted(set(entry) - {"key", "keys", "grid", *SAMPLERS})
    if unknown:
        raise SweepError(str(sweep_file.error(f"{where}.{unknown[0]}", f"unknown parameter setting; known: key, keys, grid, {', '.join(SAMPLERS)}")))
    if len(kinds) != 1:
        raise SweepError(str(sweep_file.error(where, f"expected exactly one of grid, {', '.join(SAMPLERS)}; found {kinds or 'none'}")))
    kind = kinds[0]
    argument = entry[kind]
    at = f"{where}.{kind}"
    if kind != "grid" and search_type == "grid":
        raise SweepError(str(sweep_file.error(at, f"a grid search takes only grid values; use search: {{type: random, num_samples: N}} for {kind!r}")))
    if kind in ("grid", "choice"):
        if not isinstance(argument, list) or not argument:
            raise SweepError(str(sweep_file.error(at, f"expected a non-empty list of values, got {argument!r}")))
        if len(keys) > 1 and not all(isinstance(value, list) and len(value) == len(keys) for value in argument):
            raise SweepError(str(sweep_file.error(at, f"tied keys {list(keys)} take lists of {len(keys)} values each, got {argument!r}")))
    else:
        if len(keys) > 1:
            raise SweepError(str(sweep_file.error(at, f"{kind!r} samples one number; tie keys with grid or choice")))
        if not isinstance(argument, list) or len(argument) != 2 or not all(is_number(value) for value in argument) \
                or not argument[0] < argument[1]:
            raise SweepError(str(sweep_file.error(at, f"expected [low, high] with low < high, got {argument!r}")))
        if kind == "loguniform" and argument[0] <= 0:
            raise SweepError(str(sweep_file.error(at, f"loguniform needs low > 0, got {argument!r}")))
        if kind == "randint" and not all(isinstance(value, int) for value in argument):
            raise SweepError(str(sweep_file.error(at, f"randint takes integers [low, high), got {argument!r}")))
    return keys, kind, argument


def load_sweep(path: str) -> Sweep:
    """Reads a sweep file and checks it.

    Raises:
        SweepError: naming the file, line and key of the first problem.
    """
    try:
        sweep_file = load_config(path)
    except ConfigError as error:
        raise SweepError(str(error)) from None
    for key in sweep_file:
        if key not in SWEEP_KEYS:
            raise SweepError(str(sweep_file.error(key, f"unknown sweep key {key!r}; known: {', '.join(SWEEP_KEYS)}")))
    config = sweep_file.get("config")
    if not isinstance(config, str):
        raise SweepError(str(sweep_file.error("config", f"expected the path of a run config (relative to the sweep file), got {config!r}")))
    config_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), config))
    if not os.path.isfile(config_path):
        raise SweepError(str(sweep_file.error("config", f"run config not found: {config_path}")))
    overrides = sweep_file.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(item, str) and "=" in item for item in overrides):
        raise SweepError(str(sweep_file.error("overrides", f"expected a list of 'key.path=value' strings, got {overrides!r}")))
    search = sweep_file.get("search", {"type": "grid"})
    if not isinstance(search, dict) or search.get("type") not in SEARCH_TYPES:
        raise SweepError(str(sweep_file.error("search", f"expected {{type: grid}} or {{type: random, num_samples: N, seed: S}}, got {search!r}")))
    unknown = sorted(set(search) - {"type", "num_samples", "seed"})
    if unknown:
        raise SweepError(str(sweep_file.error(f"search.{unknown[0]}", "unknown search setting; known: type, num_samples, seed")))
    num_samples = search.get("num_samples", 1)
    seed = search.get("seed", 0)
    for name, value, minimum in (("num_samples", num_samples, 1), ("seed", seed, 0)):
        if not is_int(value) or value < minimum:
            raise SweepError(str(sweep_file.error(f"search.{name}", f"expected an int >= {minimum}, got {value!r}")))
    if search["type"] == "grid" and num_samples != 1:
        raise SweepError(str(sweep_file.error("search.num_samples", "a grid search runs each combination once; sweep `seed` to repeat it")))
    entries = sweep_file.get("parameters")
    if not isinstance(entries, list) or not entries:
        raise SweepError(str(sweep_file.error("parameters", "expected a non-empty list of {key: ..., grid: [...]} entries")))
    parameters = [_check_parameter(sweep_file, index, entry, search["type"]) for index, entry in enumerate(entries)]
    swept = [key for keys, _, _ in parameters for key in keys]
    repeated = sorted({key for key in swept if swept.count(key) > 1})
    if repeated:
        raise SweepError(str(sweep_file.error("parameters", f"key {repeated[0]!r} is swept twice")))
    metrics = sweep_file.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not all(isinstance(item, str) for item in metrics):
        raise SweepError(str(sweep_file.error("metrics", f"expected a list of result.json keys, got {metrics!r}")))
    trial_cpus = sweep_file.get("trial_cpus", 1)
    if not is_number(trial_cpus) or trial_cpus <= 0:
        raise SweepError(str(sweep_file.error("trial_cpus", f"expected a number > 0, got {trial_cpus!r}")))
    return Sweep(path, config_path, list(overrides), search["type"], num_samples, seed, parameters, metrics, trial_cpus)


def _check_trial_configs(sweep: Sweep, trials: list, extra_overrides: Sequence[str]) -> None:
    """Loads every trial's config before anything starts, so a bad key fails at once."""
    swept = {key for trial in trials for key in trial.parameters}
    for override in extra_overrides:
        key = override.split("=", 1)[0]
        if key in swept:
            raise SweepError(f"command line override {override!r}: {key} is swept by {sweep.path}; drop one of them")
    try:
        base = load_config(sweep.config_path, [*sweep.overrides, *extra_overrides])
    except ConfigError as error:
        raise SweepError(str(error)) from None
    for key in sorted(swept):
        parent = key.rsplit(".", 1)[0] if "." in key else None
        if parent is not None and not isinstance(base.get(parent), dict):
            raise SweepError(f"{sweep.path}: parameters: key {key!r}: {parent!r} is not a mapping in {sweep.config_path} "
                             "(with the sweep's overrides); a swept key must sit in an existing section")
    for trial in trials:
        try:
            load_config(sweep.config_path, [*sweep.overrides, *extra_overrides, *trial.overrides()])
        except ConfigError as error:
            raise SweepError(f"{trial.name}: {error}") from None


def run_trial(config_path: str, overrides: list, run_dir: str) -> dict:
    """One trial: a normal agent run into `run_dir`; returns its status and result.json."""
    import traceback

    started = time.perf_counter()
    try:
        config = load_config(config_path, overrides)
        load_tensorflow()
        config.save(run_dir)
        result = run_agent(config, run_dir)
        return {"status": "ok", "result": result, "seconds": time.perf_counter() - started}
    except Exception as error:  # one failed trial must not end the sweep; its error goes into the summary
        with open(os.path.join(run_dir, "error.txt"), "w") as stream:
            stream.write(traceback.format_exc())
        return {"status": "error", "error": f"{type(error).__name__}: {error}", "seconds": time.perf_counter() - started}


class TrialFailed(RuntimeError):
    """Raised to Tune by a trial whose agent run failed (its traceback is in the run directory's error.txt).

    Args:
        message: "ExceptionType: text" of the run's error.
        seconds: how long the trial ran before it failed.
    """

    def __init__(self, message: str, seconds: float):
        super().__init__(message, seconds)
        self.message = message
        self.seconds = seconds

    def __str__(self) -> str:
        return self.message


# What a trial reports to Tune: result.json under its own key (so no figure
# can clash with the keys Tune adds: config, pid, time_total_s, ...), and the
# trial's own run time.
REPORTED_RESULT = "result"
TRIAL_SECONDS = "trial_seconds"


def tune_trainable(config: dict, config_path: str, overrides: list, out: str) -> None:
    """Ray Tune's function trainable: one trial's agent run, reported to Tune.

    Args:
        config: the trial's point of Tune's param_space: {"trial": {"index": i, "parameters": {key: value}}}.
        config_path: the run config (absolute).
        overrides: overrides for every trial (the sweep file's, then the command line's).
        out: the sweep directory (absolute); the run directory is out/trials/<trial name>.

    Raises:
        TrialFailed: the run failed; Tune records the trial as ERROR.
    """
    from ray import tune

    trial = Trial(config["trial"]["index"], config["trial"]["parameters"])
    run_dir = os.path.join(out, "trials", trial.name)
    os.makedirs(run_dir, exist_ok=True)
    outcome = run_trial(config_path, [*overrides, *trial.overrides()], run_dir)
    if outcome["status"] != "ok":
        raise TrialFailed(outcome["error"], outcome["seconds"])
    tune.report({REPORTED_RESULT: outcome["result"], TRIAL_SECONDS: outcome["seconds"]})


def _progress_callback(sweep_trials: list):
    """A Tune callback printing one line per finished trial to stderr (Tune's own output is off)."""
    from ray import tune

    class TrialProgress(tune.Callback):
        def __init__(self):
            self.finished = 0

        def _print(self, name: str, text: str) -> None:
            self.finished += 1
            print(f"[{self.finished}/{len(sweep_trials)}] {name}: {text}", file=sys.stderr, flush=True)

        def on_trial_complete(self, iteration, trials, trial, **info):
            name = sweep_trials[trial.config["trial"]["index"]].name
            self._print(name, f"ok {trial.last_result.get(REPORTED_RESULT, {}).get('final_cost_ms')}")

        def on_trial_error(self, iteration, trials, trial, **info):
            name = sweep_trials[trial.config["trial"]["index"]].name
            # Tune stores the exception only after its callbacks ran; its text is in the run directory already.
            self._print(name, f"error (see trials/{name}/error.txt and summary.md)")

    return TrialProgress()


def _outcome(result, trial: Trial, out: str) -> dict:
    """A Tune Result as an outcome dict (status, result or error, seconds)."""
    if result is None:
        return {"status": "error", "error": "Tune returned no result for this trial (the sweep stopped before it ran)",
                "seconds": 0.0}
    if result.error is None:
        if REPORTED_RESULT not in result.metrics:  # stopped (Ctrl-C) before it finished
            return {"status": "error", "error": "the trial did not finish (the sweep was stopped)", "seconds": 0.0}
        return {"status": "ok", "result": result.metrics[REPORTED_RESULT], "seconds": result.metrics[TRIAL_SECONDS]}
    # Tune hands back Ray's wrapper; the trial's own exception is its cause.
    cause = getattr(result.error, "cause", None) or result.error
    if hasattr(cause, "seconds"):
        return {"status": "error", "error": str(cause), "seconds": cause.seconds}
    # The trial's process died (or Tune failed it) before run_trial could write error.txt.
    text = str(cause).strip()
    error_path = os.path.join(out, "trials", trial.name, "error.txt")
    os.makedirs(os.path.dirname(error_path), exist_ok=True)
    if not os.path.exists(error_path):
        with open(error_path, "w") as stream:
            stream.write(text + "\n")
    return {"status": "error", "error": f"{type(cause).__name__}: {text.splitlines()[0] if text else ''}", "seconds": 0.0}


def _summary_rows(sweep: Sweep, trials: list, outcomes: list, out: str) -> tuple:
    keys = list(dict.fromkeys(key for trial in trials for key in trial.parameters))
    header = ["trial", "status", *keys, *sweep.metrics, "seconds", "run_dir", "error"]
    rows = []
    for trial, outcome in zip(trials, outcomes):
        result = outcome.get("result", {})
        rows.append({"trial": trial.index, "status": outcome["status"], **trial.parameters,
                     **{metric: result.get(metric, "") for metric in sweep.metrics},
                     "seconds": round(outcome["seconds"], 3), "run_dir": os.path.join("trials", trial.name),
                     "error": outcome.get("error", "")})
    return header, keys, rows


def _markdown_cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def _markdown_table(header: list, rows: list) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_markdown_cell(row.get(column, "")) for column in header) + " |" for row in rows]
    return lines


def _over_seeds(keys: list, metrics: list, rows: list) -> tuple:
    """Mean ± standard deviation of each numeric metric per setting of the non-seed keys."""
    settings = [key for key in keys if key != "seed"]
    groups: dict = {}
    for row in rows:
        if row["status"] == "ok":
            groups.setdefault(tuple(json.dumps(row[key]) for key in settings), []).append(row)
    numeric = [metric for metric in metrics if any(is_number(row.get(metric)) for row in rows)]
    table = []
    for members in groups.values():
        entry = {key: members[0][key] for key in settings}
        entry["runs"] = len(members)
        for metric in numeric:
            values = np.array([row[metric] for row in members if is_number(row.get(metric))], np.float64)
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            entry[metric] = f"{values.mean():.6g} ± {spread:.2g}"
        table.append(entry)
    return [*settings, "runs", *numeric], table


def write_summary(sweep: Sweep, trials: list, outcomes: list, out: str) -> tuple:
    """Writes out/summary.csv and out/summary.md; returns their paths."""
    header, keys, rows = _summary_rows(sweep, trials, outcomes, out)
    csv_path = os.path.join(out, "summary.csv")
    with open(csv_path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: json.dumps(value) if isinstance(value, (list, dict)) else value for key, value in row.items()})
    lines = [f"# Sweep: {os.path.basename(sweep.path)}", "",
             f"Run config `{sweep.config_path}`, {sweep.search_type} search, {len(trials)} trials "
             f"({sum(outcome['status'] == 'ok' for outcome in outcomes)} finished).", ""]
    lines += _markdown_table([column for column in header if column != "error"], rows)
    failed = [row for row in rows if row["status"] != "ok"]
    if failed:
        lines += ["", "## Failed trials", ""] + [f"* trial {row['trial']}: {row['error']} (see {row['run_dir']}/error.txt)" for row in failed]
    if "seed" in keys and len(keys) > 1:
        columns, table = _over_seeds(keys, sweep.metrics, rows)
        lines += ["", "## Mean ± standard deviation over seeds", ""] + _markdown_table(columns, table)
    markdown_path = os.path.join(out, "summary.md")
    with open(markdown_path, "w") as stream:
        stream.write("\n".join(lines) + "\n")
    return csv_path, markdown_path


def run_sweep(sweep: Sweep, out: str, extra_overrides: Sequence[str] = (), address: Optional[str] = None,
              progress: bool = True) -> list:
    """Runs every trial of `sweep` with a ray.tune.Tuner and writes the summary.

    Args:
        sweep: from load_sweep.
        out: the sweep directory (trials/<name>/ per trial, tune/ for Tune's records, summary.csv, summary.md).
        extra_overrides: config overrides for every trial.
        address: None starts a local Ray; "auto" / "ray://host:port" uses a cluster.
        progress: print one line per finished trial to stderr.

    Returns:
        One outcome dict per trial, in trial order: status ("ok" or "error"),
        result (result.json, as the trial reported it to Tune) or error, seconds.

    Raises:
        SweepError: a trial's config does not load, or an override clashes with a swept key.
    """
    trials = sweep.trials()
    _check_trial_configs(sweep, trials, extra_overrides)
    out = os.path.abspath(out)
    os.makedirs(os.path.join(out, "trials"), exist_ok=True)
    # Tune would start each trial in its own record folder; a trial runs where
    # the sweep was started instead, as a plain run would. Set before the
    # local Ray starts, so its worker processes inherit it.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # Tune's default console output (a configuration box, status tables)
    # would fill stdout; progress lines come from _progress_callback instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    session = RaySession(address, num_cpus=os.cpu_count() or 1, key_path="--address")
    try:
        import ray
        from ray import tune

        cluster_cpus = ray.cluster_resources().get("CPU", 1.0)
        trainable = tune.with_resources(
            tune.with_parameters(tune_trainable, config_path=sweep.config_path,
                                 overrides=[*sweep.overrides, *extra_overrides], out=out),
            {"cpu": sweep.trial_cpus})

        def trial_name(tune_trial) -> str:
            return trials[tune_trial.config["trial"]["index"]].name

        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search([{"index": trial.index, "parameters": trial.parameters}
                                                    for trial in trials])},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=max(1, int(cluster_cpus // sweep.trial_cpus)), reuse_actors=False,
                trial_name_creator=trial_name, trial_dirname_creator=trial_name),
            run_config=tune.RunConfig(
                name="tune", storage_path=out, verbose=0,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                callbacks=[_progress_callback(trials)] if progress else None))
        results = {result.config["trial"]["index"]: result for result in tuner.fit()}
    finally:
        session.shutdown()
    outcomes = [_outcome(results.get(trial.index), trial, out) for trial in trials]
    write_summary(sweep, trials, outcomes, out)
    return outcomes


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlgraph_xflow.tune", description="Run a hyperparameter sweep on Ray Tune.")
    parser.add_argument("sweep", help="path of the sweep YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every trial")
    parser.add_argument("--out", help="sweep directory (default: runs/sweep-<name>-<timestamp>)")
    parser.add_argument("--address", default=None, help="Ray cluster to use ('auto', 'ray://host:port'); default: a local Ray")
    arguments = parser.parse_args(argv)
    try:
        sweep = load_sweep(arguments.sweep)
        out = arguments.out or os.path.join(
            "runs", f"sweep-{os.path.splitext(os.path.basename(arguments.sweep))[0]}-{time.strftime('%Y%m%d-%H%M%S')}")
        outcomes = run_sweep(sweep, out, arguments.overrides, arguments.address)
    except (SweepError, SpecError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    finished = [outcome for outcome in outcomes if outcome["status"] == "ok"]
    print(f"{len(finished)}/{len(outcomes)} trials finished; summary: {os.path.join(out, 'summary.md')} and summary.csv")
    return 0 if len(finished) == len(outcomes) else EXIT_TRIAL_FAILED
