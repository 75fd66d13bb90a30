"""Every YAML config in configs/ is built, and briefly run, by this test.

Configs under configs/base/ are fragments that others build on (`base:`),
not runs of their own. An agent config is run end to end with a tiny budget
(BRIEF overrides); its result.json must say the exported graph verified.
"""
import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(path for path in glob.glob(os.path.join(ROOT, "configs", "*.yaml")))
# Enough to exercise every stage (rollout, update, checkpoint, evaluation,
# export, verification, report) in seconds.
BRIEF = ["training.total_env_steps=8", "training.checkpoint_every=1", "training.random_baseline_episodes=1",
         "agent.num_envs=2", "agent.rollout_steps=4", "agent.epochs=1", "agent.minibatch_size=8", "env.max_steps=3",
         "export.latency_rounds=3", "export.latency_runs_per_round=2"]


def run_cli(*arguments):
    return subprocess.run([sys.executable, "-m", "rlgraph_xflow.run", *map(str, arguments)], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)


def _is_agent_config(path):
    from rlgraph_xflow.config import load_config

    return "agent" in load_config(path)


def _pretrains(path):
    from rlgraph_xflow.config import load_config

    return load_config(path).get("training.pretraining") is not None


def test_there_are_configs():
    names = {os.path.basename(path) for path in CONFIGS}
    assert {"quickstart.yaml", "ppo_bert.yaml", "ppo_resnet18.yaml", "ppo_resnet50.yaml", "ppo_inception.yaml",
            "ppo_squeezenet.yaml", "policy_graph.yaml"} <= names


# A brief run builds every config too; the dry run is checked on one of each kind.
@pytest.mark.parametrize("path", [os.path.join(ROOT, "configs", name) for name in ("quickstart.yaml", "policy_graph.yaml")],
                         ids=os.path.basename)
def test_dry_run_builds(path, tmp_path):
    result = run_cli(path, "--dry-run", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "Root APIs:" in result.stdout and (tmp_path / "run" / "meta_graph.dot").is_file()


# Configs on a whole zoo model (PPO and world model per graph) take 20-70 s each: they run in `make test-long`.
_QUICK_CONFIGS = ("quickstart.yaml", "world_model_quickstart.yaml", "policy_graph.yaml")


@pytest.mark.parametrize("path", [path if os.path.basename(path) in _QUICK_CONFIGS else pytest.param(path, marks=pytest.mark.long)
                                  for path in CONFIGS], ids=os.path.basename)
def test_config_runs_briefly(path, tmp_path):
    overrides = BRIEF if _is_agent_config(path) else []
    if _is_agent_config(path) and _pretrains(path):
        overrides = overrides + ["training.pretraining.total_env_steps=8"]
    result = run_cli(path, *overrides, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    if _is_agent_config(path):
        report = json.loads((tmp_path / "run" / "result.json").read_text())
        assert report["verified"] is True and report["env_steps"] == 8
        assert report["pretraining_env_steps"] == (8 if _pretrains(path) else 0)
        assert (tmp_path / "run" / "optimized.onnx").is_file() and (tmp_path / "run" / "report.md").is_file()
        assert "Component tree:" in result.stdout and "Root APIs:" in result.stdout
