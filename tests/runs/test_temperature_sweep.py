"""The temperature sweep: one CLI call trains every (tau, seed) point and tabulates the scores."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rlgraph_xflow.runs.temperature_sweep import summarise

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRIEF = ["training.total_env_steps=8", "training.checkpoint_every=1", "training.random_baseline_episodes=1",
         "agent.num_envs=2", "agent.rollout_steps=4", "agent.epochs=1", "agent.minibatch_size=64", "env.max_steps=3",
         "agent.dream_envs=8", "agent.dream_rollout_steps=4"]


def sweep(*arguments):
    return subprocess.run([sys.executable, "-m", "rlgraph_xflow.temperature_sweep", *map(str, arguments)], capture_output=True,
                          text=True, cwd=ROOT, timeout=900)


def test_summarise_computes_mean_and_std_per_temperature():
    records = [{"temperature": 0.5, "world_model_score": -2.0, "real_score": -10.0},
               {"temperature": 0.5, "world_model_score": -4.0, "real_score": -14.0},
               {"temperature": 1.5, "world_model_score": -1.0, "real_score": -3.0}]
    assert summarise(records) == [
        {"temperature": 0.5, "seeds": 2, "world_model_mean": -3.0, "world_model_std": 1.0, "real_mean": -12.0, "real_std": 2.0},
        {"temperature": 1.5, "seeds": 1, "world_model_mean": -1.0, "world_model_std": 0.0, "real_mean": -3.0, "real_std": 0.0}]


@pytest.mark.long
def test_the_sweep_writes_run_directories_and_the_table(tmp_path):
    out = tmp_path / "sweep"
    result = sweep("configs/world_model_quickstart.yaml", *BRIEF, "--temperatures", "0.5", "2", "--seeds", "0", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    scores = {}
    for temperature in ("0.5", "2"):
        for seed in (0, 1):
            run = json.loads((out / f"tau-{temperature}" / f"seed-{seed}" / "result.json").read_text())
            assert run["verified"] is True and run["temperature"] == float(temperature) and run["real_env_steps"] == 8
            greedy_policy_change = (run["greedy_policy_cost_ms"] - run["initial_cost_ms"]) / run["initial_cost_ms"]
            scores.setdefault(temperature, []).append((-100 * run["dream_score"], 100 * greedy_policy_change))
    with open(out / "temperature_sweep.csv") as stream:
        rows = [row for row in csv.reader(stream)]
    summary = rows[rows.index(["temperature", "seeds", "world_model_mean", "world_model_std", "real_mean", "real_std"]) + 1:]
    assert [row[0] for row in summary] == ["0.5", "2.0"]
    for row, temperature in zip(summary, ("0.5", "2")):
        values = np.array(scores[temperature])
        np.testing.assert_allclose([float(cell) for cell in row[2:]],
                                   [values[:, 0].mean(), values[:, 0].std(), values[:, 1].mean(), values[:, 1].std()], atol=1e-3)
    table = (out / "temperature_sweep.md").read_text()
    assert "| Temperature | World-model score | Real score | Seeds |" in table and table.count("% ± ") == 4


@pytest.mark.parametrize("arguments, message", [
    (["configs/quickstart.yaml"], "needs a world_model agent, found 'ppo'"),
    (["configs/world_model_quickstart.yaml", "--temperatures", "-1"], "must be >= 0"),
    (["configs/no_such_config.yaml"], "no_such_config.yaml"),
])
def test_bad_input_is_refused(arguments, message, tmp_path):
    result = sweep(*arguments, "--seeds", "0", "--out", tmp_path / "sweep")
    assert result.returncode == 2 and message in result.stderr
