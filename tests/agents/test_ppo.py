"""PPO: learns a known optimum, resumes exactly, refuses bad specs."""
import os

import numpy as np
import pytest

from rlgraph_xflow.agents import AGENTS
from rlgraph_xflow.agents.agent import ObservationSizes
from rlgraph_xflow.agents.ppo import discounted_returns
from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.env.observation import batch_observations
from rlgraph_xflow.execution.episodes import replay_steps, run_greedy_episode, run_random_episodes
from rlgraph_xflow.optimize.replay import replay
from rlgraph_xflow.execution.local import LocalExecution
from rlgraph_xflow.graphs import load, substitutions
from rlgraph_xflow.core.metrics_log import MetricsLog
from rlgraph_xflow.execution.training import METRIC_FIELDS, Trainer

from tests.agents.tiny_graphs import best_reachable_cost, conv_bn_relu_chain

SELF_IMITATION = {"type": "self_imitation_loss"}
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


def _trainer(run_dir, rules, updates, graph, self_imitation=None, reward="incremental"):
    execution = LocalExecution({"graph": graph, "rules": rules, "max_steps": 5, "reward": reward}, num_envs=2)
    agent = _agent(execution, dict(SMALL_AGENT, self_imitation=self_imitation))
    imitation_env = execution.make_env() if self_imitation else None
    return Trainer(agent, execution, str(run_dir), total_env_steps=updates * 16, checkpoint_every=2, progress=False,
                   imitation_env=imitation_env)


class _Interrupted(Exception):
    pass


# best_so_far: the episodes in progress carry their reward's record through the checkpoint.
# Plain PPO resumes in `make test`; the two variants (30-45 s each) in `make test-long`.
@pytest.mark.parametrize("self_imitation, reward", [(None, "incremental"),
                                                    pytest.param(SELF_IMITATION, "incremental", marks=pytest.mark.long),
                                                    pytest.param(None, {"type": "best_so_far"}, marks=pytest.mark.long)],
                         ids=["ppo", "self_imitating", "best_so_far_reward"])
def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(rules, tmp_path, self_imitation, reward):
    graph = load(conv_bn_relu_chain(blocks=3))
    straight = _trainer(tmp_path / "straight", rules, 5, graph, self_imitation, reward)
    straight_summary = straight.run()

    interrupted = _trainer(tmp_path / "resumed", rules, 5, graph, self_imitation, reward)
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

    resumed = _trainer(tmp_path / "resumed", rules, 5, graph, self_imitation, reward)
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
    # A self-imitating run imitated (a best prefix existed by the last update); a plain one logs nothing there.
    for run_rows in rows:
        if self_imitation:
            assert run_rows[-1]["imitation_loss"] > 0 and 0 < run_rows[-1]["imitated_fraction"] <= 1
            assert left["imitation_loss"] == pytest.approx(right["imitation_loss"], rel=1e-4, abs=1e-6)
        else:
            assert all(row["imitation_loss"] == "" for row in run_rows)


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
    ({"self_imitation": {"coefficient": -1}}, "agent.self_imitation.coefficient"),
    ({"self_imitation": {"type": "ppo_loss"}}, "agent.self_imitation.type"),
    ({"self_imitation": "yes"}, "agent.self_imitation.type"),
    ({"self_imitation": 3}, "agent.self_imitation"),
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


def test_discounted_returns_match_a_brute_force_sum():
    rewards = np.array([0.5, -1.0, 0.0, 2.0], np.float32)
    expected = [sum(0.9 ** k * float(r) for k, r in enumerate(rewards[start:])) for start in range(4)]
    np.testing.assert_allclose(discounted_returns(rewards, 0.9), expected, rtol=1e-6)
    assert discounted_returns([], 0.9).shape == (0,)


def _recorded_episode(env, agent_steps=4, seed=5):
    """A seeded walk of applied rewrites on env's graph, replayed with its observations and rewards."""
    rng = np.random.default_rng(seed)
    observation, _ = env.reset()
    steps = []
    while len(steps) < agent_steps:
        valid = np.argwhere(observation["location_masks"])
        xfer, location = (int(value) for value in valid[rng.integers(len(valid))])
        observation, _, _, _, info = env.step((xfer, location))
        steps.append((xfer, location))
    return replay_steps(env, steps, info["runtime_ms"], keep_observations=True)


def test_self_imitation_makes_an_improving_episode_the_greedy_one(rules, tiny_graph):
    """Imitating an episode whose returns beat the value estimates makes its actions the greedy ones.

    The value term is off here: it raises V toward the returns, which ends
    the imitation of a step once V reaches its return (by design), maybe
    before that step's action is the most likely one.
    """
    execution = LocalExecution({"graph": tiny_graph, "rules": rules, "max_steps": 8}, num_envs=1)
    agent = _agent(execution, dict(SMALL_AGENT, num_envs=1, self_imitation=dict(SELF_IMITATION, value_coefficient=0.0),
                                   optimizer={"learning_rate": 1e-2}))
    assert agent.imitates
    episode = _recorded_episode(execution.make_env(max_steps=8))
    xfers, locations = (list(column) for column in zip(*episode.applied_steps))
    # Positive rewards (returns above the untrained values), whatever the walk's own costs did.
    rewards = [1.0] * len(xfers)
    batch = batch_observations(episode.observations)
    before = agent.act(batch, greedy=True)
    assert (list(before["xfers"]), list(before["locations"])) != (xfers, locations)
    for _ in range(60):
        parts = agent.imitate(episode.observations, xfers, locations, rewards)
    after = agent.act(batch, greedy=True)
    assert list(after["xfers"]) == xfers and list(after["locations"]) == locations
    assert parts["imitated_fraction"] == 1.0 and parts["imitation_loss"] < 0.5


def test_self_imitation_leaves_the_agent_alone_where_returns_fall_short(rules, tiny_graph):
    """Returns far below every value estimate: nothing is imitated and no variable moves."""
    execution = LocalExecution({"graph": tiny_graph, "rules": rules, "max_steps": 8}, num_envs=1)
    agent = _agent(execution, dict(SMALL_AGENT, num_envs=1, self_imitation=SELF_IMITATION))
    episode = _recorded_episode(execution.make_env(max_steps=8))
    xfers, locations = (list(column) for column in zip(*episode.applied_steps))
    before = agent.executor.variable_values()
    parts = agent.imitate(episode.observations, xfers, locations, [-1e6] * len(xfers))
    assert parts == {"imitation_loss": 0.0, "imitated_fraction": 0.0}
    after = agent.executor.variable_values()
    for name in before:
        if "optimizer" not in name:
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def test_imitate_refuses_bad_input(rules, tiny_graph):
    execution = LocalExecution({"graph": tiny_graph, "rules": rules, "max_steps": 8}, num_envs=1)
    episode = _recorded_episode(execution.make_env(max_steps=8), agent_steps=2)
    xfers, locations = (list(column) for column in zip(*episode.applied_steps))
    with pytest.raises(RuntimeError, match="no agent.self_imitation spec"):
        _agent(execution, dict(SMALL_AGENT, num_envs=1)).imitate(episode.observations, xfers, locations, [0.0, 0.0])
    agent = _agent(execution, dict(SMALL_AGENT, num_envs=1, self_imitation=SELF_IMITATION))
    with pytest.raises(ValueError, match="expected as many observations, xfers, locations and rewards"):
        agent.imitate(episode.observations, xfers, locations, [0.0])
    with pytest.raises(ValueError, match="at least one"):
        agent.imitate([], [], [], [])
