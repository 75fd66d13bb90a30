"""run_agent exports the cheapest of the greedy policy's graph, the sampled policy's best graph and the best training
graph, verified in onnxruntime; a candidate measured slower than the original is not exported unless allowed."""
import json
import os
import re

import numpy as np
import onnx
import pytest

from rlgraph_xflow.config import load_config
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.execution.episodes import ReplayMismatch, replay_steps
from rlgraph_xflow.execution.training import BestTrainingPrefix
from rlgraph_xflow.graphs import export, verify, zoo
from rlgraph_xflow.graphs.latency import VERDICTS, LatencyProtocol, LatencySamples
from rlgraph_xflow.runs.agent_run import run_agent
from rlgraph_xflow.runs.export_choice import BEST_TRAINING_EPISODE, GREEDY_POLICY, ORIGINAL, SAMPLED_POLICY, select_exported_graph

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The quickstart, shortened as tests/test_configs.py shortens it.
SHORT = ["training.total_env_steps=8", "training.checkpoint_every=1", "training.random_baseline_episodes=1",
         "agent.num_envs=2", "agent.rollout_steps=4", "agent.epochs=1", "agent.minibatch_size=8", "env.max_steps=3",
         "export.latency_rounds=3", "export.latency_runs_per_round=3"]
# The cheapest candidate is exported whatever this machine's timing says, so these runs' results are deterministic
# (a candidate measured slower is tested on its own, with injected timings).
BRIEF = SHORT + ["export.allow_slower=true"]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("quickstart")
    result = run_agent(load_config(os.path.join(ROOT, "configs", "quickstart.yaml"),
                                   BRIEF + ["training.sampled_evaluation_episodes=3"]), str(run_dir))
    return run_dir, result


@pytest.fixture(scope="module")
def env():
    return XflowEnv(graph="squeezenet1_1", max_steps=3)


def test_the_result_describes_the_cheapest_graph_and_it_verifies(quickstart, env):
    run_dir, result = quickstart
    assert json.loads((run_dir / "result.json").read_text()) == result
    assert result["best_training_cost_ms"] is not None   # a training episode of this seeded run applied rewrites
    assert result["sampled_policy_cost_ms"] is not None and result["sampled_evaluation_episodes"] == 3
    costs = {GREEDY_POLICY: result["greedy_policy_cost_ms"], SAMPLED_POLICY: result["sampled_policy_cost_ms"],
             BEST_TRAINING_EPISODE: result["best_training_cost_ms"]}
    assert result["final_cost_ms"] == min(costs.values())
    assert result["result_source"] == min(costs, key=costs.get)   # the first of equal costs, in preference order
    assert result["cost_reduction"] == pytest.approx((result["initial_cost_ms"] - result["final_cost_ms"]) / result["initial_cost_ms"])
    # The steps rebuild exactly the exported graph, whichever it was.
    replayed = replay_steps(env, [tuple(step) for step in result["steps"]], result["final_cost_ms"])
    assert replayed.applied_xfer_names == result["applied"]
    # optimized.onnx is that graph and computes what the original model computes (checked again here, in onnxruntime).
    assert result["verified"] is True and result["optimized_onnx"] == "optimized.onnx"
    assert result["exported"] == "optimized" and result["allow_slower"] is True and result["latency_verdict"] in VERDICTS
    assert (result["cost_model"], result["device"]) == ("analytic", "h100") and result["latency_ms_optimized"] > 0
    check = verify.verify(zoo.build("squeezenet1_1"), str(run_dir / "optimized.onnx"), protocol=LatencyProtocol(rounds=1, runs_per_round=1, warmup=0), seed=5)
    assert check.equal
    assert export(replayed.final_graph).graph.node == onnx.load(str(run_dir / "optimized.onnx")).graph.node
    report_lines = (run_dir / "report.md").read_text().splitlines()
    assert report_lines[2].startswith("**Real latency:** onnxruntime CPU latency ")
    assert report_lines[4].startswith("**Estimated cost** (an estimate by the analytic cost model, device h100")
    line = next(text for text in report_lines if text.startswith("Exported:"))
    assert {GREEDY_POLICY: "greedy policy's graph", SAMPLED_POLICY: "sampled episodes",
            BEST_TRAINING_EPISODE: "best graph of a training episode"}[result["result_source"]] in line
    assert (f"Greedy policy: {costs[GREEDY_POLICY]:.6g} ms; sampled policy (best of 3 episodes): {costs[SAMPLED_POLICY]:.6g} ms; "
            f"best training episode: {costs[BEST_TRAINING_EPISODE]:.6g} ms.") in line


def _cheapest_single_rewrite(env):
    """(runtime, (xfer, location)) of the rewrite that lowers the initial graph's runtime most."""
    observation, info = env.reset()
    initial, best = info["runtime_ms"], None
    for xfer, location in np.argwhere(np.asarray(observation["location_masks"])):
        env.reset()
        runtime = env.step((int(xfer), int(location)))[4]["runtime_ms"]
        if best is None or runtime < best[0]:
            best = (runtime, (int(xfer), int(location)))
    assert best[0] < initial
    return initial, best


def test_the_cheapest_candidate_is_exported_and_a_replay_mismatch_is_refused(env):
    initial, (best_runtime, best_step) = _cheapest_single_rewrite(env)
    unchanged = replay_steps(env, [], initial)   # a greedy policy that only chose NO-OP
    improving = BestTrainingPrefix(best_runtime, [best_step])
    choice = select_exported_graph(env, unchanged, improving)
    assert choice.source == BEST_TRAINING_EPISODE and choice.exported is choice.candidates[BEST_TRAINING_EPISODE]
    assert choice.ranked == [BEST_TRAINING_EPISODE, GREEDY_POLICY]
    assert choice.exported.final_runtime_ms == best_runtime and choice.exported.applied_steps == [best_step]
    assert set(choice.candidates) == {GREEDY_POLICY, BEST_TRAINING_EPISODE}
    # The sampled policy's graph beats the training one on equal cost, and the greedy policy's beats both.
    choice = select_exported_graph(env, unchanged, improving, BestTrainingPrefix(best_runtime, [best_step]))
    assert choice.source == SAMPLED_POLICY and choice.exported.applied_steps == [best_step]
    assert set(choice.candidates) == {GREEDY_POLICY, SAMPLED_POLICY, BEST_TRAINING_EPISODE}
    assert choice.ranked == [SAMPLED_POLICY, BEST_TRAINING_EPISODE, GREEDY_POLICY]
    choice = select_exported_graph(env, choice.exported, improving, BestTrainingPrefix(best_runtime, [best_step]))
    assert choice.source == GREEDY_POLICY and choice.ranked == [GREEDY_POLICY, SAMPLED_POLICY, BEST_TRAINING_EPISODE]
    # A dearer candidate is never exported, wherever it comes from.
    choice = select_exported_graph(env, unchanged, BestTrainingPrefix(initial, []), improving)
    assert choice.source == SAMPLED_POLICY and choice.candidates[BEST_TRAINING_EPISODE].final_runtime_ms == initial
    choice = select_exported_graph(env, unchanged, None)
    assert (choice.exported, choice.source, choice.candidates) == (unchanged, GREEDY_POLICY, {GREEDY_POLICY: unchanged})
    for training, sampled in ((BestTrainingPrefix(best_runtime * 0.5, [best_step]), None),
                              (None, BestTrainingPrefix(best_runtime * 0.5, [best_step]))):
        with pytest.raises(ReplayMismatch, match="not deterministic"):
            select_exported_graph(env, unchanged, training, sampled)


def test_when_every_candidate_measures_slower_the_original_is_exported(tmp_path, monkeypatch, env):
    """Timings injected: every candidate 40% slower than the original. The outputs are still compared for real."""
    from rlgraph_xflow.graphs import verify as verify_module

    def slower_candidate(calls, protocol):
        return [LatencySamples((1.0,) * protocol.rounds), LatencySamples((1.4,) * protocol.rounds)]

    monkeypatch.setattr(verify_module, "time_sessions", slower_candidate)
    result = run_agent(load_config(os.path.join(ROOT, "configs", "quickstart.yaml"), SHORT), str(tmp_path))
    assert result["allow_slower"] is False and result["exported"] == "original" and result["result_source"] == ORIGINAL
    assert result["final_cost_ms"] == result["initial_cost_ms"] and result["applied"] == [] and result["steps"] == []
    costs = {GREEDY_POLICY: result["greedy_policy_cost_ms"], SAMPLED_POLICY: result["sampled_policy_cost_ms"],
             BEST_TRAINING_EPISODE: result["best_training_cost_ms"]}
    costs = {source: cost for source, cost in costs.items() if cost is not None}
    rejected = result["rejected_candidates"]
    # Cheapest first; a candidate whose graph was already tried is not timed again.
    assert rejected[0]["source"] == min(costs, key=costs.get) and {entry["source"] for entry in rejected} <= set(costs)
    assert all(entry["latency_verdict"] == "slower" and entry["latency_change"] == pytest.approx(0.4) for entry in rejected)
    assert result["export_note"].endswith("so the original graph is exported (allow_slower would export the candidate)")
    assert onnx.load(str(tmp_path / "optimized.onnx")) == zoo.build("squeezenet1_1")
    report_lines = (tmp_path / "report.md").read_text().splitlines()
    assert report_lines[6] == f"**Export:** {result['export_note']}."
    assert any(line.startswith("Exported: the original graph (every candidate measured slower in onnxruntime).") for line in report_lines)


@pytest.mark.parametrize("override, key_path, message", [
    ('export={allow_slower: "yes"}', "export.allow_slower", "expected true or false, got 'yes'"),
    ("export.allowslower=true", "export.allowslower", "unknown export setting (did you mean 'allow_slower'?)"),
    ("export.latency_rounds=2", "export.latency_rounds", "expected an int >= 3, got 2"),
    ("export.latency_runs_per_round=0", "export.latency_runs_per_round", "expected an int >= 1, got 0"),
    ("export=[allow_slower]", "export", "expected a mapping such as {allow_slower: true}"),
])
def test_bad_export_settings_name_the_key(override, key_path, message):
    from rlgraph_xflow.runs.agent_run import build_agent_run
    from rlgraph_xflow.core.registry import SpecError

    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        build_agent_run(load_config(os.path.join(ROOT, "configs", "quickstart.yaml"), SHORT + [override]))
    assert caught.value.key_path == key_path


def test_a_resumed_run_exports_what_an_uninterrupted_one_exports(tmp_path):
    """The sampled evaluation draws from the sampler's random stream, which checkpoints keep: a run resumed after
    its first update ends with the same candidates and the same exported graph as a run that was never stopped."""
    overrides = [item for item in BRIEF if not item.startswith("training.total_env_steps")] + [
        "training.sampled_evaluation_episodes=3"]
    config_path = os.path.join(ROOT, "configs", "quickstart.yaml")
    straight = run_agent(load_config(config_path, overrides + ["training.total_env_steps=16"]), str(tmp_path))
    (tmp_path / "resumed").mkdir()
    run_agent(load_config(config_path, overrides + ["training.total_env_steps=8"]), str(tmp_path / "resumed"))
    resumed = run_agent(load_config(config_path, overrides + ["training.total_env_steps=16"]), str(tmp_path / "resumed"),
                        resume=True)
    assert resumed["env_steps"] == straight["env_steps"] == 16
    assert (resumed["steps"], resumed["result_source"]) == (straight["steps"], straight["result_source"])
    for key in ("final_cost_ms", "greedy_policy_cost_ms", "sampled_policy_cost_ms", "best_training_cost_ms"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-9), key


# A 1-layer bert_base (sequence length 8) before the quickstart's squeezenet1_1: another graph, the same observation
# sizes (rule library and location cap).
PRETRAINING = "training.pretraining={env: {graph: bert_base, graph_options: {layers: 1}, sequence_length: 8}, total_env_steps: 16}"


def _brief_config(*extra):
    return load_config(os.path.join(ROOT, "configs", "quickstart.yaml"), BRIEF + [PRETRAINING, *extra])


def test_pretraining_comes_first_and_training_continues_from_its_weights(tmp_path):
    from rlgraph_xflow.runs.agent_run import build_agent_run
    from rlgraph_xflow.agents.ppo_trainer import METRIC_FIELDS
    from rlgraph_xflow.core import checkpoint
    from rlgraph_xflow.core.metrics_log import MetricsLog
    from rlgraph_xflow.execution.local import LocalExecution

    (tmp_path / "run").mkdir()
    result = run_agent(_brief_config(), str(tmp_path / "run"))
    assert (result["pretraining_env_steps"], result["env_steps"]) == (16, 8) and result["pretraining_seconds"] > 0
    pretraining_rows = MetricsLog(tmp_path / "run" / "pretraining" / "metrics.csv", METRIC_FIELDS).rows()
    assert [int(row["env_steps"]) for row in pretraining_rows] == [8, 16]
    assert len(MetricsLog(tmp_path / "run" / "metrics.csv", METRIC_FIELDS).rows()) == 1
    # The same two trainings composed by hand (not through pretrain) end with the same weights; without
    # pretraining they differ.
    # By hand: the same agent trained 16 steps in an execution of the 1-layer bert_base, then 8 on squeezenet1_1.
    composed = build_agent_run(_brief_config())
    bert_env = {**composed.env_spec, "graph": "bert_base", "graph_options": {"layers": 1}, "sequence_length": 8}
    bert_execution = LocalExecution(bert_env, composed.execution.num_envs)
    try:
        composed.agent.make_trainer(bert_execution, str(tmp_path / "composed" / "first"),
                                    {**composed.training, "total_env_steps": 16}, composed.seed).run()
        composed.agent.make_trainer(composed.execution, str(tmp_path / "composed"), composed.training, composed.seed).run()
    finally:
        bert_execution.close()
        composed.execution.close()
    unpretrained = build_agent_run(load_config(os.path.join(ROOT, "configs", "quickstart.yaml"), BRIEF))
    try:
        unpretrained.agent.make_trainer(unpretrained.execution, str(tmp_path / "plain"), unpretrained.training,
                                        unpretrained.seed).run()
    finally:
        unpretrained.execution.close()
    restored = build_agent_run(_brief_config())
    restored.execution.close()
    assert checkpoint.restore_training_checkpoint(str(tmp_path / "run" / "checkpoints"), restored.agent) is not None
    expected, actual = composed.agent.executor.variable_values(), restored.agent.executor.variable_values()
    assert expected.keys() == actual.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    plain = unpretrained.agent.executor.variable_values()
    assert any(not np.allclose(plain[name], expected[name]) for name in expected)


def test_a_run_stopped_after_pretraining_resumes_into_training(tmp_path):
    from rlgraph_xflow.runs.agent_run import build_agent_run, pretrain

    (tmp_path / "straight").mkdir()
    straight = run_agent(_brief_config(), str(tmp_path / "straight"))
    stopped = build_agent_run(_brief_config())
    try:
        pretrain(stopped, str(tmp_path / "resumed"))
    finally:
        stopped.execution.close()
    assert not (tmp_path / "resumed" / "checkpoints").exists()
    resumed = run_agent(_brief_config(), str(tmp_path / "resumed"), resume=True)
    assert (resumed["steps"], resumed["result_source"]) == (straight["steps"], straight["result_source"])
    assert resumed["pretraining_env_steps"] == straight["pretraining_env_steps"] == 16
    for key in ("final_cost_ms", "greedy_policy_cost_ms", "sampled_policy_cost_ms", "best_training_cost_ms"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-9), key


@pytest.mark.parametrize("override, key_path, message", [
    ("training.pretraining=5", "training.pretraining", "expected {env:"),
    ("training.pretraining={env: {max_steps: 4}}", "training.pretraining", "expected {env:"),
    ("training.pretraining={env: {}, total_env_steps: 8}", "training.pretraining.env", "non-empty mapping"),
    ("training.pretraining={env: {type: xflow}, total_env_steps: 8}", "training.pretraining.env.type", "the run's environment type"),
    ("training.pretraining={env: {max_steps: 4}, total_env_steps: 0}", "training.pretraining.total_env_steps", "int >= 1, got 0"),
])
def test_bad_pretraining_specs_name_the_key(override, key_path, message):
    from rlgraph_xflow.runs.agent_run import build_agent_run
    from rlgraph_xflow.core.registry import SpecError

    with pytest.raises(SpecError, match=message) as caught:
        build_agent_run(load_config(os.path.join(ROOT, "configs", "quickstart.yaml"), BRIEF + [override]))
    assert caught.value.key_path == key_path


def test_pretraining_needs_the_runs_observation_sizes_and_a_pretrainable_agent(tmp_path):
    from rlgraph_xflow.runs.agent_run import build_agent_run
    from rlgraph_xflow.core.registry import SpecError

    other_cap = "training.pretraining={env: {max_locations: 7}, total_env_steps: 8}"
    with pytest.raises(SpecError, match="one agent cannot act in both") as caught:
        run_agent(load_config(os.path.join(ROOT, "configs", "quickstart.yaml"), BRIEF + [other_cap]), str(tmp_path))
    assert caught.value.key_path == "training.pretraining.env"
    assert not (tmp_path / "checkpoints").exists()
    with pytest.raises(SpecError, match="'world_model' agent does not support pretraining") as caught:
        build_agent_run(load_config(os.path.join(ROOT, "configs", "world_model_quickstart.yaml"), [PRETRAINING]))
    assert caught.value.key_path == "training.pretraining"
