"""`python -m rlgraph_xflow.tune`: sweep files expand to the right trials, bad ones are refused, a sweep runs on Ray Tune."""
import csv
import glob
import json
import math
import os
import subprocess
import sys

import pytest

from rlgraph_xflow.config import load_config
from rlgraph_xflow.runs.tune import SweepError, load_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEPS = sorted(glob.glob(os.path.join(ROOT, "configs", "sweeps", "*.yaml")))
BRIEF = ["training.total_env_steps=8", "training.checkpoint_every=1", "training.random_baseline_episodes=1",
         "agent.num_envs=2", "agent.rollout_steps=4", "agent.epochs=1", "agent.minibatch_size=8", "env.max_steps=3"]
QUICKSTART = os.path.join(ROOT, "configs", "quickstart.yaml")


def _write(tmp_path, text, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(text.replace("QUICKSTART", QUICKSTART))
    return str(path)



def _run_sweep_cli(path, out, home, working_directory):
    """`python -m rlgraph_xflow.tune` in a subprocess with HOME pointed at `home` and Ray's own settings left to the CLI."""
    environment = {key: value for key, value in os.environ.items() if key not in ("RAY_TMPDIR", "RAY_AUTH_MODE")}
    environment["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "rlgraph_xflow.tune", path, *BRIEF, "--out", str(out)],
                          capture_output=True, text=True, cwd=working_directory, timeout=600, env=environment)

def test_the_alpha_beta_sweep_is_the_dissertations_grid():
    sweep = load_sweep(os.path.join(ROOT, "configs", "sweeps", "reward_alpha_beta.yaml"))
    trials = sweep.trials()
    alphas = [trial.parameters["env.reward.alpha"] for trial in trials]
    assert alphas == pytest.approx([step / 10 for step in range(11)])
    assert all(trial.parameters["env.reward.beta"] == pytest.approx(1 - trial.parameters["env.reward.alpha"]) for trial in trials)
    config = load_config(sweep.config_path, [*sweep.overrides, *trials[8].overrides()])
    assert config["env.reward"] == {"type": "weighted", "normalize": True, "alpha": 0.8, "beta": 0.2}


def test_the_temperature_sweep_is_the_dissertations_grid_at_the_budget_that_reached_ppo():
    sweep = load_sweep(os.path.join(ROOT, "configs", "sweeps", "temperature.yaml"))
    trials = sweep.trials()
    points = [(trial.parameters["agent.temperature"], trial.parameters["seed"]) for trial in trials]
    assert points == [(tau, seed) for tau in (0.1, 0.5, 1.0, 1.5, 2.0, 3.0) for seed in (0, 1, 2)]
    # docs/RESULTS.md, "World model": 512 real steps of 10-step bert_base episodes reached PPO's cost.
    config = load_config(sweep.config_path, [*sweep.overrides, *trials[9].overrides()])
    assert (config["env.graph"], config["env.max_steps"], config["training.total_env_steps"]) == ("bert_base", 10, 512)
    assert (config["agent.type"], config["agent.temperature"], config["seed"]) == ("world_model", 1.5, 0)


@pytest.mark.parametrize("path", SWEEPS, ids=os.path.basename)
def test_every_shipped_sweep_loads_and_its_trial_configs_resolve(path):
    from rlgraph_xflow.runs.tune import _check_trial_configs

    sweep = load_sweep(path)
    trials = sweep.trials()
    assert trials and len({trial.name for trial in trials}) == len(trials)
    _check_trial_configs(sweep, trials, [])


def test_grid_values_are_crossed_and_random_draws_are_seeded_and_in_bounds(tmp_path):
    grid = load_sweep(_write(tmp_path, """
config: QUICKSTART
parameters:
  - {key: agent.optimizer.learning_rate, grid: [0.001, 0.002]}
  - {key: seed, grid: [0, 1, 2]}
"""))
    assert [tuple(trial.parameters.values()) for trial in grid.trials()] == [
        (0.001, 0), (0.001, 1), (0.001, 2), (0.002, 0), (0.002, 1), (0.002, 2)]
    text = """
config: QUICKSTART
search: {type: random, num_samples: 50, seed: SEED}
parameters:
  - {key: agent.optimizer.learning_rate, loguniform: [1.0e-4, 1.0e-2]}
  - {key: agent.epochs, randint: [1, 4]}
  - {key: env.graph, choice: [squeezenet1_1, resnet18]}
  - {key: seed, grid: [0, 1]}
"""
    first = load_sweep(_write(tmp_path, text.replace("SEED", "3"), "a.yaml")).trials()
    again = load_sweep(_write(tmp_path, text.replace("SEED", "3"), "b.yaml")).trials()
    other = load_sweep(_write(tmp_path, text.replace("SEED", "4"), "c.yaml")).trials()
    assert len(first) == 100 and [t.parameters for t in first] == [t.parameters for t in again]
    assert [t.parameters for t in first] != [t.parameters for t in other]
    rates = [trial.parameters["agent.optimizer.learning_rate"] for trial in first]
    assert all(1e-4 <= rate <= 1e-2 for rate in rates)
    # Log-uniform: about half the draws below the geometric midpoint 1e-3.
    assert 30 <= sum(rate < 1e-3 for rate in rates) <= 70
    assert {trial.parameters["agent.epochs"] for trial in first} == {1, 2, 3}
    assert {trial.parameters["env.graph"] for trial in first} == {"squeezenet1_1", "resnet18"}
    assert [trial.parameters["seed"] for trial in first] == [0] * 50 + [1] * 50
    overrides = dict(override.split("=", 1) for override in first[0].overrides())
    assert math.isclose(float(overrides["agent.optimizer.learning_rate"]), rates[0])


@pytest.mark.parametrize("body, message", [
    ("parameters:\n  - {key: seed, grid: [0]}\n", "config: expected the path of a run config"),
    ("config: missing.yaml\nparameters:\n  - {key: seed, grid: [0]}\n", "run config not found"),
    ("config: QUICKSTART\nparamters: []\n", "unknown sweep key 'paramters'"),
    ("config: QUICKSTART\nparameters:\n  - {key: agent.epochs, uniform: [1, 3]}\n", "a grid search takes only grid values"),
    ("config: QUICKSTART\nparameters:\n  - {keys: [env.reward.alpha, env.reward.beta], grid: [[0.1, 0.9], [0.5]]}\n",
     "take lists of 2 values each"),
    ("config: QUICKSTART\nsearch: {type: random, num_samples: 2}\nparameters:\n  - {key: agent.epochs, uniform: [3, 1]}\n",
     "low < high"),
    ("config: QUICKSTART\nsearch: {type: bayes}\nparameters:\n  - {key: seed, grid: [0]}\n", "expected {type: grid}"),
    ("config: QUICKSTART\nparameters:\n  - {key: seed, grid: [0]}\n  - {key: seed, grid: [1]}\n", "swept twice"),
])
def test_a_bad_sweep_file_names_file_line_and_key(tmp_path, body, message):
    path = _write(tmp_path, body)
    with pytest.raises(SweepError, match=message) as raised:
        load_sweep(path)
    assert str(raised.value).startswith(path)


def test_a_swept_key_outside_the_config_and_a_clashing_override_are_refused(tmp_path):
    from rlgraph_xflow.runs.tune import _check_trial_configs

    sweep = load_sweep(_write(tmp_path, "config: QUICKSTART\nparameters:\n  - {key: agent.optimiser.learning_rate, grid: [0.1]}\n"))
    with pytest.raises(SweepError, match="'agent.optimiser' is not a mapping"):
        _check_trial_configs(sweep, sweep.trials(), [])
    sweep = load_sweep(_write(tmp_path, "config: QUICKSTART\nparameters:\n  - {key: seed, grid: [0]}\n", "b.yaml"))
    with pytest.raises(SweepError, match="seed is swept"):
        _check_trial_configs(sweep, sweep.trials(), ["seed=3"])


@pytest.mark.long
def test_a_two_trial_sweep_runs_on_ray_tune_and_writes_run_directories_and_a_summary(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    path = _write(tmp_path, """
config: QUICKSTART
parameters:
  - {key: agent.optimizer.learning_rate, grid: [0.001, 0.004]}
metrics: [final_cost_ms, cost_reduction, verified, env_steps]
""")
    out = tmp_path / "sweep"
    result = _run_sweep_cli(path, out, home, ROOT)
    assert result.returncode == 0, result.stderr
    with open(out / "summary.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [float(row["agent.optimizer.learning_rate"]) for row in rows] == [0.001, 0.004]
    for row in rows:
        assert row["status"] == "ok" and row["verified"] == "True" and row["env_steps"] == "8"
        run_dir = out / row["run_dir"]
        report = json.loads((run_dir / "result.json").read_text())
        assert report["verified"] is True and float(row["final_cost_ms"]) == report["final_cost_ms"]
        saved = load_config(str(run_dir / "config.yaml"))
        assert saved["agent.optimizer.learning_rate"] == float(row["agent.optimizer.learning_rate"])
        assert saved["training.total_env_steps"] == 8
        assert (run_dir / "optimized.onnx").is_file() and (run_dir / "metrics.csv").is_file()
    markdown = (out / "summary.md").read_text()
    assert "| trial | status | agent.optimizer.learning_rate | final_cost_ms |" in markdown and markdown.count("| ok |") == 2
    assert list(home.iterdir()) == []


def test_a_failed_trial_is_summarised_with_its_error_and_tune_writes_only_inside_the_sweep_directory(tmp_path):
    home, working_directory = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    working_directory.mkdir()
    # Trial 0 names a graph that does not exist: its config loads, its run fails.
    path = _write(tmp_path, """
config: QUICKSTART
parameters:
  - keys: [env.graph, agent.optimizer.learning_rate]
    grid: [[no_such_graph, 0.002], [squeezenet1_1, 0.001]]
metrics: [final_cost_ms, verified]
""")
    out = tmp_path / "sweep"
    result = _run_sweep_cli(path, out, home, working_directory)
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip().splitlines() == [f"1/2 trials finished; summary: {out / 'summary.md'} and summary.csv"]
    with open(out / "summary.csv") as stream:
        failed, finished = list(csv.DictReader(stream))
    assert failed["status"] == "error" and failed["error"].startswith("SpecError: env.graph: 'no_such_graph'")
    assert "Traceback" in (out / failed["run_dir"] / "error.txt").read_text()
    assert f"* trial 0: {failed['error']} (see {failed['run_dir']}/error.txt)" in (out / "summary.md").read_text()
    assert finished["status"] == "ok" and finished["verified"] == "True"
    assert f"{os.path.basename(failed['run_dir'])}: error (see {failed['run_dir']}/error.txt" in result.stderr
    assert f"{os.path.basename(finished['run_dir'])}: ok {finished['final_cost_ms']}" in result.stderr
    run_result = json.loads((out / finished["run_dir"] / "result.json").read_text())
    assert float(finished["final_cost_ms"]) == run_result["final_cost_ms"]
    # Tune's records sit in DIR/tune: the experiment state names both trials, and
    # the finished trial's last report there is its run directory's result.json.
    states = list((out / "tune").glob("experiment_state-*.json"))
    assert len(states) == 1 and (out / "tune" / "tuner.pkl").is_file()
    state_text = states[0].read_text()
    assert all(os.path.basename(row["run_dir"]) in state_text for row in (failed, finished))
    reports = (out / "tune" / os.path.basename(finished["run_dir"]) / "result.json").read_text().splitlines()
    assert json.loads(reports[-1])["result"] == run_result
    assert (out / "tune" / os.path.basename(failed["run_dir"]) / "error.txt").is_file()
    assert sorted(item.name for item in out.iterdir()) == ["summary.csv", "summary.md", "trials", "tune"]
    assert list(home.iterdir()) == [] and list(working_directory.iterdir()) == []


def test_bad_command_line_exits_2_naming_the_problem(tmp_path):
    path = _write(tmp_path, "config: QUICKSTART\nparameters:\n  - {key: seed, grid: [0]}\n")
    result = subprocess.run([sys.executable, "-m", "rlgraph_xflow.tune", path, "seed=2", "--out", str(tmp_path / "s")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2 and "seed is swept" in result.stderr
