"""LocalExecution's random-agent transitions and episode records, checked by replaying episodes in a fresh environment."""
import numpy as np
import pytest

from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.execution.local import LocalExecution, random_valid_actions

ENV_SPEC = {"graph": "squeezenet1_1", "max_steps": 5, "max_locations": 8}


@pytest.fixture(scope="module")
def execution():
    return LocalExecution(dict(ENV_SPEC), num_envs=3)


@pytest.fixture(scope="module")
def fresh_env(execution):
    return XflowEnv(**{**ENV_SPEC, "graph": execution.sample_env.initial_graph, "rules": execution.sample_env.library})


def _runtimes_after_each_rewrite(env, steps):
    """The reference: the initial runtime, then the runtime after each replayed rewrite."""
    _, info = env.reset()
    runtimes = [info["runtime_ms"]]
    for step in steps:
        _, _, _, _, info = env.step(step)
        assert not info["invalid"], f"recorded rewrite {step} is invalid on replay"
        runtimes.append(info["runtime_ms"])
    return runtimes


def test_random_transitions_record_episodes_that_a_fresh_environment_reproduces(execution, fresh_env):
    execution.reset()
    transitions = execution.collect_random_transitions(14, np.random.default_rng(4))
    assert len(transitions) == 14
    records, previous_observation = [], None
    for step, transition in enumerate(transitions):
        masks = (previous_observation or {LOCATION_MASKS: None})[LOCATION_MASKS]
        for row, (xfer, location) in enumerate(transition.actions):
            if masks is not None:  # every random action is valid or NO-OP
                assert xfer == fresh_env.num_xfers or masks[row, xfer, location], f"step {step} row {row}"
        assert sorted(transition.final_observations) == sorted(transition.finished) == np.flatnonzero(transition.dones).tolist()
        for row, record in sorted(transition.finished.items()):
            assert record.final_runtime_ms == transition.infos[row]["runtime_ms"]
            # The ended episode's last observation is the graph its rewrites lead to.
            runtimes = _runtimes_after_each_rewrite(fresh_env, record.applied_steps)
            np.testing.assert_array_equal(transition.final_observations[row][GRAPH_TUPLE].nodes, fresh_env.observe()[GRAPH_TUPLE].nodes)
            np.testing.assert_array_equal(transition.final_observations[row][XFER_MASK], fresh_env.observe()[XFER_MASK])
            assert runtimes[-1] == record.final_runtime_ms
            first_cheapest = int(np.argmin(runtimes))
            assert (record.best_runtime_ms, record.best_prefix_length) == (runtimes[first_cheapest], first_cheapest)
            records.append(record)
        previous_observation = transition.observation
    assert len(records) >= 6 and any(record.best_prefix_length > 0 for record in records)
    # Some episode passed its best graph and ended slower (the case the best prefix is for).
    assert any(record.final_runtime_ms > record.best_runtime_ms for record in records)


def test_a_restored_state_continues_with_the_same_transitions_and_records(execution):
    execution.reset()
    rng = np.random.default_rng(11)
    execution.collect_random_transitions(4, rng)   # episodes are in progress now
    state, rng_state = execution.get_state(), rng.bit_generator.state
    straight = execution.collect_random_transitions(6, rng)
    other = LocalExecution(dict(ENV_SPEC), num_envs=3)
    other.set_state(state)
    resumed_rng = np.random.default_rng()
    resumed_rng.bit_generator.state = rng_state
    resumed = other.collect_random_transitions(6, resumed_rng)
    for left, right in zip(straight, resumed):
        np.testing.assert_array_equal(left.actions, right.actions)
        np.testing.assert_array_equal(left.rewards, right.rewards)
        assert left.finished == right.finished
    assert any(transition.finished for transition in straight)


def test_random_valid_actions_pick_uniformly_among_valid_pairs_and_no_op():
    masks = np.zeros((2, 3, 4), bool)
    masks[0, 1, :2] = True   # row 0: (1, 0), (1, 1) and NO-OP
    rng = np.random.default_rng(0)
    draws = np.stack([random_valid_actions(masks, rng, num_xfers=3) for _ in range(3000)])
    np.testing.assert_array_equal(draws[:, 1], [[3, 0]] * 3000)   # row 1 has only NO-OP
    pairs, counts = np.unique(draws[:, 0], axis=0, return_counts=True)
    assert pairs.tolist() == [[1, 0], [1, 1], [3, 0]]
    assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.03)


def test_bad_arguments_are_refused(execution):
    with pytest.raises(ValueError, match=r"steps_per_env must be an int >= 1, got 0"):
        execution.collect_random_transitions(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"rng must be a numpy Generator, got int"):
        execution.collect_random_transitions(2, 7)
    with pytest.raises(ValueError, match=r"expected location masks of shape \[B, 3, L\], got \(3, 4\)"):
        random_valid_actions(np.zeros((3, 4), bool), np.random.default_rng(0), num_xfers=3)
