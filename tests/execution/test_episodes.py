"""replay_steps: rebuilds a recorded graph exactly, and refuses a replay that does not reach the recorded runtime;
cheapest_prefix: the cheapest graph of a greedy episode, against replaying every prefix; run_sampled_episodes: the
episodes of a stochastic policy over several environments, against replaying each."""
import numpy as np
import pytest

from rlgraph_xflow.env.observation import LOCATION_MASKS
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.execution.episodes import ReplayMismatch, cheapest_prefix, replay_steps, run_greedy_episode, run_sampled_episodes
from rlgraph_xflow.execution.local import random_valid_actions
from rlgraph_xflow.graphs import substitutions

ENV_SPEC = {"graph": "squeezenet1_1", "max_steps": 4, "max_locations": 8}


@pytest.fixture(scope="module")
def env():
    return XflowEnv(**ENV_SPEC)


def _random_walk(env, seed: int, length: int):
    """A seeded random walk of up to `length` applied rewrites (NO-OP excluded): its (xfer, location) steps, the
    xfer names, and the runtime of the initial graph, then after each step."""
    rng = np.random.default_rng(seed)
    observation, info = env.reset()
    steps, names, runtimes = [], [], [info["runtime_ms"]]
    while len(steps) < length:
        xfer, location = (int(value) for value in random_valid_actions(observation[LOCATION_MASKS][None], rng, env.num_xfers)[0])
        if xfer == env.num_xfers:
            continue
        observation, _, terminated, truncated, info = env.step((xfer, location))
        steps.append((xfer, location))
        names.append(info["applied_xfer"])
        runtimes.append(info["runtime_ms"])
        if terminated or truncated:
            break
    return steps, names, runtimes


@pytest.fixture(scope="module")
def recorded(env):
    """Rewrites a seeded random walk applied (NO-OP excluded), the graph and runtime it reached, and the xfer names."""
    steps, names, runtimes = _random_walk(env, seed=3, length=3)
    assert len(steps) == 3
    return steps, env.current_graph.hash(), runtimes[-1], names


def test_a_replay_rebuilds_the_recorded_graph(env, recorded):
    steps, graph_hash, runtime, names = recorded
    result = replay_steps(env, steps, runtime)
    assert result.final_graph.hash() == graph_hash and result.final_runtime_ms == runtime
    assert result.applied_steps == steps and result.applied_xfer_names == names and result.steps == 3
    # The same graph as applying the rewrites with the engine directly (rlgraph_xflow.optimize.replay's path).
    graph = env.initial_graph
    for xfer, location in steps:
        graph = substitutions.apply(graph, env.library, xfer, location, env.max_locations)
    assert graph.hash() == graph_hash
    initial = replay_steps(env, [], env.reset()[1]["runtime_ms"])
    assert initial.final_graph.hash() == env.initial_graph.hash() and initial.applied_steps == []


def test_a_replay_can_keep_each_steps_observation_and_reward(env, recorded):
    """What self-imitation learns from: the observation before each step and its reward, as stepping by hand gives them."""
    steps, _, runtime, _ = recorded
    observation, _ = env.reset()
    expected_observations, expected_rewards = [], []
    for step in steps:
        expected_observations.append(observation)
        observation, reward, _, _, _ = env.step(step)
        expected_rewards.append(reward)
    result = replay_steps(env, steps, runtime, keep_observations=True)
    assert result.rewards == expected_rewards and sum(result.rewards) == pytest.approx(result.reward)
    assert len(result.observations) == len(steps)
    for kept, expected in zip(result.observations, expected_observations):
        assert sorted(kept) == sorted(expected)
        np.testing.assert_array_equal(kept["xfer_mask"], expected["xfer_mask"])
        np.testing.assert_array_equal(kept["location_masks"], expected["location_masks"])
        np.testing.assert_array_equal(kept["graph_tuple"].nodes, expected["graph_tuple"].nodes)
    plain = replay_steps(env, steps, runtime)
    assert plain.observations == [] and plain.rewards == []


def test_a_replay_that_misses_the_recorded_runtime_is_an_error(env, recorded):
    steps, _, runtime, _ = recorded
    with pytest.raises(ReplayMismatch, match=r"reached .* ms, but .* ms was recorded .*the environment is not deterministic"):
        replay_steps(env, steps, runtime * (1 + 1e-6))
    with pytest.raises(ReplayMismatch, match="reached"):
        replay_steps(env, steps[:2], runtime)


def test_a_step_that_is_invalid_on_replay_is_an_error(env, recorded):
    steps, _, runtime, _ = recorded
    observation, _ = env.reset()
    xfer, location = np.argwhere(~np.asarray(observation[LOCATION_MASKS]))[0]
    with pytest.raises(ReplayMismatch, match=rf"step 0 \({xfer}, {location}\) is invalid on the replayed graph"):
        replay_steps(env, [(int(xfer), int(location))] + steps, runtime)


def test_an_episode_that_ends_before_the_last_step_is_an_error(recorded):
    steps, _, runtime, _ = recorded
    short = XflowEnv(**{**ENV_SPEC, "max_steps": 2})
    with pytest.raises(ReplayMismatch, match="the replayed episode ended after step 2 of 3"):
        replay_steps(short, steps, runtime)


@pytest.mark.parametrize("bad_step, message", [
    (("a", 1), r"steps\[1\] must hold two ints"),
    ((1,), r"steps\[1\] must be an \(xfer, location\) pair"),
    (None, r"steps\[1\] must be an \(xfer, location\) pair"),
    ((True, 0), r"steps\[1\] must hold two ints"),
])
def test_malformed_steps_are_refused(env, recorded, bad_step, message):
    steps, _, runtime, _ = recorded
    with pytest.raises(ValueError, match=message):
        replay_steps(env, [steps[0], bad_step], runtime)


def test_no_op_is_not_a_rewrite(env, recorded):
    steps, _, runtime, _ = recorded
    with pytest.raises(ValueError, match=rf"steps\[0\] is NO-OP \(xfer {env.num_xfers}\)"):
        replay_steps(env, [(env.num_xfers, 0)] + steps, runtime)


class ScriptedAgent:
    """Acts out a fixed list of (xfer, location) actions, then NO-OP: a stand-in policy with a known episode."""

    def __init__(self, actions, no_op):
        self.actions, self.no_op = list(actions), no_op

    def act(self, observations, greedy):
        assert greedy
        xfer, location = self.actions.pop(0) if self.actions else (self.no_op, 0)
        return {"xfers": np.array([xfer]), "locations": np.array([location])}


@pytest.fixture(scope="module")
def walk_with_a_detour():
    """A seeded random walk on squeezenet1_1 whose cheapest graph is not its last, and each prefix's runtime."""
    env = XflowEnv(graph="squeezenet1_1", max_steps=30, max_locations=8)
    steps, _, runtimes = _random_walk(env, seed=0, length=25)
    # Cut the walk just after a step that made the graph slower, so its cheapest graph lies before its end.
    ends = [length for length in range(1, len(steps) + 1) if runtimes[length] > min(runtimes[:length])]
    assert ends, f"the seeded walk never made the graph slower: {runtimes}"
    return env, steps[:ends[0]], runtimes[:ends[0] + 1]


def test_the_greedy_episode_records_each_prefix_runtime(walk_with_a_detour):
    env, steps, runtimes = walk_with_a_detour
    episode = run_greedy_episode(ScriptedAgent(steps, env.num_xfers), env)
    assert episode.applied_steps == steps
    assert episode.prefix_runtimes_ms == pytest.approx(runtimes, rel=1e-12)
    assert episode.final_runtime_ms == pytest.approx(runtimes[-1], rel=1e-12)


def test_cheapest_prefix_is_the_cheapest_replayed_prefix(walk_with_a_detour):
    env, steps, runtimes = walk_with_a_detour
    episode = run_greedy_episode(ScriptedAgent(steps, env.num_xfers), env)
    cheapest = cheapest_prefix(env, episode)
    # Brute force: replay every prefix and keep the first cheapest.
    prefixes = [replay_steps(env, steps[:length], runtimes[length]) for length in range(len(steps) + 1)]
    best = min(prefixes, key=lambda prefix: prefix.final_runtime_ms)
    assert cheapest.final_runtime_ms == best.final_runtime_ms < episode.final_runtime_ms
    assert cheapest.final_graph.hash() == best.final_graph.hash() and cheapest.applied_steps == best.applied_steps


def test_cheapest_prefix_keeps_an_episode_whose_last_graph_is_cheapest(walk_with_a_detour):
    env, steps, runtimes = walk_with_a_detour
    length = int(np.argmin(runtimes))
    episode = run_greedy_episode(ScriptedAgent(steps[:length], env.num_xfers), env)
    assert cheapest_prefix(env, episode) is episode


def test_cheapest_prefix_needs_one_runtime_per_prefix(walk_with_a_detour):
    env, steps, _ = walk_with_a_detour
    episode = run_greedy_episode(ScriptedAgent(steps, env.num_xfers), env)
    episode.prefix_runtimes_ms = episode.prefix_runtimes_ms[:-1]
    with pytest.raises(ValueError, match=rf"expected {len(steps) + 1} prefix runtimes"):
        cheapest_prefix(env, episode)


class RandomValidAgent:
    """A stochastic stand-in policy: the random agent's choice per row, from its own seeded stream; logs batch sizes."""

    def __init__(self, seed, num_xfers):
        self.rng, self.num_xfers, self.batch_sizes = np.random.default_rng(seed), num_xfers, []

    def act(self, observations, greedy=False):
        assert not greedy
        masks = np.asarray(observations[LOCATION_MASKS])
        self.batch_sizes.append(len(masks))
        actions = random_valid_actions(masks, self.rng, self.num_xfers)
        return {"xfers": actions[:, 0], "locations": actions[:, 1]}


@pytest.fixture(scope="module")
def sampled_envs():
    return [XflowEnv(graph="squeezenet1_1", max_steps=6, max_locations=8) for _ in range(3)]


def test_sampled_episodes_replay_to_their_records_and_know_their_cheapest_prefix(sampled_envs):
    agent = RandomValidAgent(seed=4, num_xfers=sampled_envs[0].num_xfers)
    records = run_sampled_episodes(agent, sampled_envs, episodes=7)
    assert len(records) == 7
    # Three rows throughout (a row keeps its environment), for as many calls as the longest row ran steps.
    assert set(agent.batch_sizes) == {3}
    assert len(agent.batch_sizes) >= max(record.length for record in records)
    assert sum(record.length for record in records) <= 3 * len(agent.batch_sizes)
    env = sampled_envs[0]
    initial = env.reset()[1]["runtime_ms"]
    for record in records:
        assert 1 <= record.length <= 6
        replayed = replay_steps(env, record.applied_steps, record.final_runtime_ms)
        assert replayed.applied_steps == record.applied_steps
        # Brute force: every prefix's runtime, stepping the rewrites again; the record keeps the first cheapest.
        env.reset()
        runtimes = [initial] + [env.step(step)[4]["runtime_ms"] for step in record.applied_steps]
        assert record.best_runtime_ms == min(runtimes) and record.best_prefix_length == int(np.argmin(runtimes))


def test_sampled_episodes_are_the_agents_choices_whatever_the_batching(sampled_envs):
    """One environment or three: the same episodes when the agent's choice for a row depends on that row alone (here:
    the first valid action)."""

    class FirstValid:
        def act(self, observations, greedy=False):
            rows = [np.argwhere(row)[0] for row in np.asarray(observations[LOCATION_MASKS])]
            return {"xfers": np.array([row[0] for row in rows]), "locations": np.array([row[1] for row in rows])}

    one = run_sampled_episodes(FirstValid(), sampled_envs[:1], episodes=2)
    three = run_sampled_episodes(FirstValid(), sampled_envs, episodes=2)
    assert [record.applied_steps for record in one] == [record.applied_steps for record in three]
    assert len(one[0].applied_steps) == 6   # max_steps rewrites, each the first valid one


@pytest.mark.parametrize("envs, episodes, message", [
    ([], 1, "needs at least one environment"),
    (None, 0, "episodes must be an int >= 1, got 0"),
    (None, True, "episodes must be an int >= 1, got True"),
])
def test_sampled_episodes_refuse_bad_arguments(sampled_envs, envs, episodes, message):
    with pytest.raises(ValueError, match=message):
        run_sampled_episodes(RandomValidAgent(0, sampled_envs[0].num_xfers), sampled_envs if envs is None else envs, episodes)
