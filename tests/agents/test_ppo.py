"""PPO: learns a known optimum, refuses bad specs, acts validly, imitates (its trainer: test_ppo_trainer.py)."""
import numpy as np
import pytest

from rlgraph_xflow.agents.ppo import discounted_returns
from rlgraph_xflow.agents.ppo_trainer import PPOTrainer
from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.env.observation import batch_observations
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.execution.episodes import replay_steps, run_greedy_episode, run_random_episodes
from rlgraph_xflow.execution.local import LocalExecution
from rlgraph_xflow.optimize.replay import replay

from tests.agents.small_ppo import SELF_IMITATION, SMALL_AGENT, small_ppo_agent
from tests.agents.tiny_graphs import best_reachable_cost


def test_ppo_reaches_95_percent_of_the_optimal_reduction(tiny_graph, rules, tmp_path):
    initial = tiny_graph.cost(device="h100").runtime_ms
    optimum = best_reachable_cost(tiny_graph, rules, depth=6)
    assert optimum < initial
    env_spec = {"graph": tiny_graph, "rules": rules, "max_steps": 6, "reward": {"type": "incremental", "normalize": True}}
    execution = LocalExecution(env_spec, num_envs=4)
    agent = small_ppo_agent(execution, dict(SMALL_AGENT, num_envs=4, rollout_steps=12, epochs=4, minibatch_size=16,
                                            optimizer={"learning_rate": 5e-3}))
    PPOTrainer(agent, execution, str(tmp_path), total_env_steps=1200, checkpoint_every=100, progress=False).run()
    episode = run_greedy_episode(agent, XflowEnv(**env_spec))
    achieved = (initial - episode.final_runtime_ms) / (initial - optimum)
    assert achieved >= 0.95, f"PPO reached {achieved:.0%} of the optimal reduction ({episode.applied_xfer_names})"
    random_episodes = run_random_episodes(XflowEnv(**env_spec), 8, seed=0)
    assert episode.final_runtime_ms < np.mean([e.final_runtime_ms for e in random_episodes])
    # The recorded steps rebuild each episode's graph (what blame replays on a failed verification).
    for recorded in [episode] + random_episodes[:2]:
        path = replay(tiny_graph, rules, recorded.applied_steps, target_hash=recorded.final_graph.hash())
        assert path.complete and path.reaches_result and [step.rule for step in path.steps] == recorded.applied_xfer_names


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
        small_ppo_agent(execution, {**SMALL_AGENT, **override})
    assert caught.value.key_path == key


def test_greedy_actions_are_valid_on_a_real_observation(rules, tiny_graph):
    execution = LocalExecution({"graph": tiny_graph, "rules": rules}, num_envs=2)
    agent = small_ppo_agent(execution)
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
    agent = small_ppo_agent(execution, dict(SMALL_AGENT, num_envs=1, self_imitation=dict(SELF_IMITATION, value_coefficient=0.0),
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
    agent = small_ppo_agent(execution, dict(SMALL_AGENT, num_envs=1, self_imitation=SELF_IMITATION))
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
        small_ppo_agent(execution, dict(SMALL_AGENT, num_envs=1)).imitate(episode.observations, xfers, locations, [0.0, 0.0])
    agent = small_ppo_agent(execution, dict(SMALL_AGENT, num_envs=1, self_imitation=SELF_IMITATION))
    with pytest.raises(ValueError, match="expected as many observations, xfers, locations and rewards"):
        agent.imitate(episode.observations, xfers, locations, [0.0])
    with pytest.raises(ValueError, match="at least one"):
        agent.imitate([], [], [], [])
