"""The CLI end to end, in subprocesses, with good and bad input."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "configs", "policy_graph.yaml")


def run_cli(*arguments, home=None):
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "rlgraph_xflow.run", *map(str, arguments)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_dry_run_prints_the_summary_and_writes_the_meta_graph(tmp_path):
    result = run_cli(QUICKSTART, "--dry-run", "--out", tmp_path / "run", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "Component tree:" in result.stdout
    assert "get_action(observations: FloatBox(shape=(16,), ranks=[batch])) -> IntBox(shape=(), low=0, high=8, ranks=[batch])" in result.stdout
    assert "Variables: 7 (5771 parameters)" in result.stdout  # 16*64+64 + 64*64+64 + 64*8+8 + sampler state 3
    dot = (tmp_path / "run" / "meta_graph.dot").read_text()
    assert dot.startswith("digraph meta_graph") and "cluster_policy/network/dense_1" in dot
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir()), "nothing may be written to $HOME"
    assert result.stderr == "", "start-up must be quiet"


def test_full_run_writes_run_directory(tmp_path):
    result = run_cli(QUICKSTART, "model.head.num_actions=4", "input_spaces.actions.high=4", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    outputs = json.loads((run / "api_outputs.json").read_text())
    assert sorted(outputs) == ["get_action", "get_entropy", "get_greedy_action", "get_log_prob"]
    assert all(0 <= a < 4 for a in outputs["get_action"]) and len(outputs["get_action"]) == 4
    assert (run / "checkpoints" / "final.npz").is_file()
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(run / "tensorboard"))
    assert "num_actions: 4" in (run / "config.yaml").read_text()


@pytest.mark.parametrize("overrides, expected", [
    (["model.network.type=mpl"], "model.network.type: unknown component type 'mpl' (did you mean 'mlp'?)"),
    (["model.network.layerz=[3]"], "model.network.layerz: component type 'mlp' has no argument 'layerz' (did you mean 'layers'?)"),
    (["modle.x=1"], "modle: unknown top-level key 'modle'; did you mean 'model'?"),
    (["agent.type=pop", "env.type=xflow"], "agent.type: unknown agent type 'pop' (did you mean 'ppo'?)"),
    (["agent.type=ppo", "env.type=xflwo"], "env.type: unknown environment type 'xflwo' (did you mean 'xflow'?)"),
    (["agent.type=ppo"], "env: an agent run needs an `env:` spec with a type"),
    (["agent.type=ppo", "env.type=xflow", "training.total_env_step=5"],
     "training.total_env_step: unknown training setting (did you mean 'total_env_steps'?)"),
    (["agent.type=ppo", "env.type=xflow", "training.checkpoint_every=0"], "training.checkpoint_every: expected an int >= 1, got 0"),
    (["agent.type=ppo", "env.type=xflow", "env.maxsteps=4"],
     "env.maxsteps: environment type 'xflow' has no argument 'maxsteps' (did you mean 'max_steps'?)"),
    (["agent.type=ppo", "env.type=xflow", "training.pretraining={env: {maxsteps: 4}, total_env_steps: 8}"],
     "training.pretraining.env.maxsteps: environment type 'xflow' has no argument 'maxsteps' (did you mean 'max_steps'?)"),
    (["agent.type=ppo", "env.type=xflow", "training.sampled_evaluation_episodes=-1"],
     "training.sampled_evaluation_episodes: expected an int >= 0, got -1"),
    (["agent.type=ppo", "env.type=xflow", "execution.type=rya"], "execution.type: unknown execution type 'rya' (did you mean 'ray'?)"),
    (["agent.type=ppo", "env.type=xflow", "export.allowslower=true"],
     "export.allowslower: unknown export setting (did you mean 'allow_slower'?)"),
    (["model.head.num_actions=0"], "model.head.num_actions: expected a positive int, got 0"),
    (["input_spaces.observations.type=flaot_box"], "unknown space type 'flaot_box'; did you mean 'float_box'?"),
    (["model.network.layers"], "override"),
])
def test_bad_overrides_fail_with_one_clear_line(overrides, expected, tmp_path):
    result = run_cli(QUICKSTART, *overrides, "--dry-run", "--out", tmp_path / "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_misspelt_type_in_a_yaml_file_names_file_line_and_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(open(QUICKSTART).read().replace("type: categorical_head", "type: categorcal_head"))
    result = run_cli(config, "--dry-run", "--out", tmp_path / "run")
    assert result.returncode == 2
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "categorcal_head" in text)
    assert f"{config}:{line}: model.head.type: unknown component type 'categorcal_head' (did you mean 'categorical_head'?)" in result.stderr


def test_misspelt_argument_in_a_yaml_file_names_file_line_and_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(open(QUICKSTART).read().replace("num_actions: 8", "num_action: 8"))
    result = run_cli(config, "--dry-run", "--out", tmp_path / "run")
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "num_action:" in text)
    assert result.returncode == 2
    assert f"{config}:{line}: model.head.num_action: component type 'categorical_head' has no argument 'num_action' (did you mean 'num_actions'?)" in result.stderr


def test_space_mismatch_points_at_the_failing_component(tmp_path):
    result = run_cli(QUICKSTART, "input_spaces.observations={type: int_box, high: 3, shape: [16], batch_rank: true}", "--dry-run", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "model.network.layers[0]: space mismatch in component 'policy/network/dense_0', API 'apply', argument 'inputs'" in result.stderr


def test_action_space_wider_than_the_head_is_caught_before_building(tmp_path):
    result = run_cli(QUICKSTART, "model.head.num_actions=4", "--dry-run", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "model.head: space mismatch in component 'policy/head', API 'log_prob', argument 'actions'" in result.stderr


def test_yaml_syntax_error_and_missing_file(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("model:\n  type: policy\n  network: [unclosed\n")
    result = run_cli(config, "--dry-run")
    assert result.returncode == 2 and f"{config}:" in result.stderr and "Traceback" not in result.stderr
    result = run_cli(tmp_path / "nope.yaml", "--dry-run")
    assert result.returncode == 2 and "nope.yaml" in result.stderr and "Traceback" not in result.stderr


def test_config_without_model_is_refused(tmp_path):
    config = tmp_path / "empty.yaml"
    config.write_text("name: nothing\n")
    result = run_cli(config, "--dry-run")
    assert result.returncode == 2 and "add a 'model:' component spec" in result.stderr
