"""PPO: learns a known optimum, resumes exactly, refuses bad specs."""
import os

import numpy as np
import pytest

from rlgraph_xflow.agents import AGENTS
from rlgraph_xflow.agents.agent import ObservationSizes
from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.evaluation import run_greedy_episode, run_random_episodes
from rlgraph_xflow.optimize.replay import replay
from rlgraph_xflow.execution.local import LocalExecution
from rlgraph_xflow.graphs import load, substitutions
from rlgraph_xflow.reporting import MetricsLog
from rlgraph_xflow.training import METRIC_FIELDS, Trainer

from tests.agents.tiny_graphs import best_reachable_cost, conv_bn_relu_chain

SMALL_AGENT = {
    "type": "ppo", "num_envs": 2, "rollout_steps": 8, "epochs": 2, "minibatch_size": 8,
    "encoder": {"latent_size": 16, "message_passing_rounds": 2},
    "sampler": {"type": "masked_dual_action_sampler", "location_head": {"type": "location_head", "hidden_layers": [16]}},
    "value_head": {"hidden_layers": [16]},
}


@pytest.fixture(scope="module")
def rules():
    return substitutions.load_rules()


@pytest.fixture(scope="module")
def tiny_graph():
    return load(conv_bn_relu_chain())


def _agent(execution, spec=None):
    return AGENTS.from_spec(spec or SMALL_AGENT, "agent", sizes=ObservationSizes.of_env(execution.sample_env))


def test_ppo_reaches_95_percent_of_the_optimal_reduction(tiny_graph, rules, tmp_path):
    initial = tiny_graph.cost(device="h100").runtime_ms
    optimum = best_reachable_cost(tiny_graph, rules, depth=6)
    assert optimum < initial
    env_spec = {"graph": tiny_graph, "rules": rules, "max_steps": 6, "reward": {"type": "incremental", "normalize": True}}
    execution = LocalExecution(env_spec, num_envs=4)
    agent = _agent(execution, dict(SMALL_AGENT, num_envs=4, rollout_steps=12, epochs=4, minibatch_size=16,
                                   optimizer={"learning_rate": 5e-3}))
    Trainer(agent, execution, str(tmp_path), total_env_steps=1200, checkpoint_every=100, progress=False).run()
    episode = run_greedy_episode(agent, XflowEnv(**env_spec))
    achieved = (initial - episode.final_runtime_ms) / (initial - optimum)
    assert achieved >= 0.95, f"PPO reached {achieved:.0%} of the optimal reduction ({episode.applied_xfer_names})"
    random_episodes = run_random_episodes(XflowEnv(**env_spec), 8, seed=0)
    assert episode.final_runtime_ms < np.mean([e.final_runtime_ms for e in random_episodes])
    # The recorded steps rebuild each episode's graph (what blame replays on a failed verification).
    for recorded in [episode] + random_episodes[:2]:
        path = replay(tiny_graph, rules, recorded.applied_steps, target_hash=recorded.final_graph.hash())
        assert path.complete and path.reaches_result and [step.rule for step in path.steps] == recorded.applied_xfer_names


def _trainer(run_dir, rules, updates, graph):
    execution = LocalExecution({"graph": graph, "rules": rules, "max_steps": 5}, num_envs=2)
    agent = _agent(execution)
    return Trainer(agent, execution, str(run_dir), total_env_steps=updates * 16, checkpoint_every=2, progress=False)


class _Interrupted(Exception):
    pass


def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(rules, tmp_path):
    graph = load(conv_bn_relu_chain(blocks=3))
    straight = _trainer(tmp_path / "straight", rules, 5, graph)
    straight_summary = straight.run()

    interrupted = _trainer(tmp_path / "resumed", rules, 5, graph)
    original_update, calls = interrupted.agent.update, []

    def update_then_crash(*arguments, **keywords):
        calls.append(1)
        if len(calls) == 4:  # during update 4: the last checkpoint is at update 2
            raise _Interrupted()
        return original_update(*arguments, **keywords)

    interrupted.agent.update = update_then_crash
    with pytest.raises(_Interrupted):
        interrupted.run()
    assert len(MetricsLog(tmp_path / "resumed" / "metrics.csv", METRIC_FIELDS).rows()) == 3

    resumed = _trainer(tmp_path / "resumed", rules, 5, graph)
    summary = resumed.run(resume=True)
    assert summary.updates == 5 and summary.env_steps == 80
    # The best graph training reached is part of the checkpoint: the resumed run ends with exactly the same one.
    assert straight_summary.best_training_prefix is not None and straight_summary.best_training_prefix.steps
    assert summary.best_training_prefix == straight_summary.best_training_prefix
    expected, actual = straight.agent.executor.variable_values(), resumed.agent.executor.variable_values()
    assert expected.keys() == actual.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    rows = [MetricsLog(tmp_path / run / "metrics.csv", METRIC_FIELDS).rows() for run in ("straight", "resumed")]
    assert [r["update"] for r in rows[1]] == [1, 2, 3, 4, 5]
    for left, right in zip(*rows):
        for field in ("env_steps", "episodes", "episode_reward", "total_loss"):
            assert left[field] == pytest.approx(right[field], rel=1e-4, abs=1e-6), field


def test_resume_without_a_checkpoint_is_an_error(rules, tmp_path, tiny_graph):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _trainer(tmp_path, rules, 1, tiny_graph).run(resume=True)


@pytest.mark.parametrize("override, key", [
    ({"num_envs": 0}, "agent.num_envs"),
    ({"epochs": "many"}, "agent.epochs"),
    ({"encoder": {"type": "gn_encodr"}}, "agent.encoder.type"),
    ({"optimizer": {"learning_rat": 0.1}}, "agent.optimizer.learning_rat"),
    ({"optimizer": {"targets": ["x"]}}, "agent.optimizer.targets"),
    ({"loss": 3}, "agent.loss"),
])
def test_bad_agent_specs_name_the_key(override, key, rules, tiny_graph):
    execution = LocalExecution({"graph": tiny_graph, "rules": rules}, num_envs=1)
    with pytest.raises(SpecError) as caught:
        _agent(execution, {**SMALL_AGENT, **override})
    assert caught.value.key_path == key


def test_greedy_actions_are_valid_on_a_real_observation(rules, tiny_graph):
    execution = LocalExecution({"graph": tiny_graph, "rules": rules}, num_envs=2)
    agent = _agent(execution)
    execution.reset()
    observation = execution.observation
    for greedy in (False, True):
        actions = agent.act(observation, greedy=greedy)
        for row, (xfer, location) in enumerate(zip(actions["xfers"], actions["locations"])):
            assert observation["xfer_mask"][row, xfer]
            if xfer < agent.sizes.num_xfers:
                assert observation["location_masks"][row, xfer, location]
