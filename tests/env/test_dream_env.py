"""DreamEnv: the batched reset/step API against a hand-written deterministic world model."""
import numpy as np
import pytest

from rlgraph_xflow.env.dream_env import (CELL_STATE, DREAM_FIELDS, HIDDEN_STATE, LATENT, LOCATION_COUNTS, LOCATION_MASKS,
                                         XFER_MASK, DreamEnv, location_masks_from_counts)

NUM_XFERS, LOCATIONS, LATENT_SIZE, UNITS = 3, 4, 2, 5
DONE_XFER = 2      # the fake model predicts "done" after xfer 2
CLOSING_XFER = 1   # after xfer 1 the fake model predicts that no xfer applies any more


class CountingWorldModel:
    """z' = z + (xfer + 1); h' = h + 1; reward = 0.1 (xfer + 1) + 0.01 location; masks from the action."""

    def __init__(self):
        self.calls = 0

    def dream_step(self, z, xfers, locations, hidden_state, cell_state):
        self.calls += 1
        rows = len(xfers)
        xfer_mask = np.ones((rows, NUM_XFERS + 1), bool)
        xfer_mask[xfers == CLOSING_XFER, :NUM_XFERS] = False
        counts = np.tile(np.array([2, 1, 3], np.int32), (rows, 1))
        counts[~xfer_mask[:, :NUM_XFERS]] = 0
        return {
            "next_z": z + (xfers + 1)[:, None].astype(np.float32),
            "reward": (0.1 * (xfers + 1) + 0.01 * locations).astype(np.float32),
            "done_probability": np.where(xfers == DONE_XFER, 0.9, 0.1).astype(np.float32),
            "xfer_mask": xfer_mask, "location_counts": counts,
            "hidden_state": hidden_state + 1.0, "cell_state": cell_state - 1.0,
        }


INITIAL_Z = np.array([0.5, -0.5], np.float32)
INITIAL_MASK = np.array([True, True, False, True])
INITIAL_COUNTS = np.array([1, 4, 0], np.int32)


def make_env(num_envs=3, max_steps=4, **kwargs):
    model = CountingWorldModel()
    return DreamEnv(model, INITIAL_Z, INITIAL_MASK, INITIAL_COUNTS, num_envs=num_envs, max_locations=LOCATIONS,
                    lstm_units=UNITS, max_steps=max_steps, **kwargs), model


def test_reset_gives_the_initial_state_on_every_row():
    env, _ = make_env()
    observation, info = env.reset()
    assert set(observation) == set(DREAM_FIELDS) and info == {}
    np.testing.assert_array_equal(observation[LATENT], np.tile(INITIAL_Z, (3, 1)))
    np.testing.assert_array_equal(observation[HIDDEN_STATE], np.zeros((3, UNITS)))
    np.testing.assert_array_equal(observation[XFER_MASK], np.tile(INITIAL_MASK, (3, 1)))
    expected_masks = np.array([[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(observation[LOCATION_MASKS], np.tile(expected_masks, (3, 1, 1)))
    assert env.observation_space.contains({key: value[0] for key, value in observation.items()})


def test_location_masks_are_prefixes_of_the_counts():
    masks = location_masks_from_counts(np.array([[0, 2, 5]]), 5)
    np.testing.assert_array_equal(masks, [[[0, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]])
    # Counts outside [0, L] give an empty or a full mask, as the comparison j < count does.
    rng = np.random.default_rng(0)
    counts = rng.integers(-3, 9, size=(4, 6, 5))
    np.testing.assert_array_equal(location_masks_from_counts(counts, 6), np.arange(6) < counts[..., None])


def test_observations_are_read_only_and_keep_their_values_after_later_steps():
    env, _ = make_env()
    first, _ = env.reset()
    kept = {key: value.copy() for key, value in first.items()}
    with pytest.raises(ValueError, match="read-only"):
        first[LATENT][0, 0] = 7.0
    with pytest.raises(KeyError, match="graph_tuple"):
        first["graph_tuple"]
    assert "graph_tuple" not in first and LOCATION_MASKS in first and len(first) == len(DREAM_FIELDS)
    # Row 2 ends (xfer 1 closes every xfer) and restarts; row 0 advances.
    second, _, _, _, info = env.step(np.array([[0, 0], [3, 0], [1, 0]]))
    env.step(np.array([[0, 1], [0, 0], [0, 0]]))
    for key, value in kept.items():
        np.testing.assert_array_equal(first[key], value, err_msg=key)
    np.testing.assert_allclose(info["final_observation"][LATENT][2], INITIAL_Z + 2)
    np.testing.assert_allclose(second[LATENT][0], INITIAL_Z + 1)
    assert not any(value.flags.writeable for value in (*second.values(), *info["final_observation"].values()))


def test_valid_actions_follow_the_world_model_and_rule_out_by_the_predicted_masks():
    env, _ = make_env()
    env.reset()
    # Row 0: xfer 0 at location 0 (valid). Row 1: xfer 2 (masked at the start). Row 2: xfer 1, location 3 (valid, count 4).
    observation, rewards, terminated, truncated, info = env.step(np.array([[0, 0], [2, 0], [1, 3]]))
    np.testing.assert_allclose(rewards, [0.1, -100.0, 0.2 + 0.03], rtol=1e-6)
    np.testing.assert_array_equal(info["invalid"], [False, True, False])
    np.testing.assert_allclose(observation[LATENT][0], INITIAL_Z + 1)
    np.testing.assert_allclose(observation[LATENT][1], INITIAL_Z)              # the invalid action changed nothing
    np.testing.assert_allclose(observation[HIDDEN_STATE][0], np.ones(UNITS))
    np.testing.assert_allclose(observation[HIDDEN_STATE][1], np.zeros(UNITS))
    np.testing.assert_allclose(observation[CELL_STATE][0], -np.ones(UNITS))
    np.testing.assert_array_equal(observation[LOCATION_COUNTS][0], [2, 1, 3])
    # Row 2: after xfer 1 nothing applies: the episode terminated and the row was reset.
    np.testing.assert_array_equal(terminated, [False, False, True])
    assert not truncated.any()
    np.testing.assert_allclose(observation[LATENT][2], INITIAL_Z)
    np.testing.assert_allclose(info["final_observation"][LATENT][2], INITIAL_Z + 2)
    assert not info["final_observation"][XFER_MASK][2, :NUM_XFERS].any()


def test_no_op_ends_the_episode_without_calling_its_result_and_done_probability_ends_it_too():
    env, _ = make_env(num_envs=2)
    env.reset()
    env.step(np.array([[0, 0], [0, 0]]))
    observation, rewards, terminated, _, info = env.step(np.array([[NUM_XFERS, 0], [DONE_XFER, 2]]))
    np.testing.assert_allclose(rewards, [0.0, 0.3 + 0.02], rtol=1e-6)
    np.testing.assert_array_equal(terminated, [True, True])
    np.testing.assert_allclose(info["final_observation"][LATENT][0], INITIAL_Z + 1)   # NO-OP leaves the state
    np.testing.assert_allclose(info["final_observation"][LATENT][1], INITIAL_Z + 1 + 3)
    np.testing.assert_array_equal(env.steps, [0, 0])
    np.testing.assert_allclose(observation[HIDDEN_STATE], 0.0)


def test_episodes_are_truncated_after_max_steps():
    env, _ = make_env(num_envs=1, max_steps=2)
    env.reset()
    _, _, terminated, truncated, _ = env.step(np.array([[0, 0]]))
    assert not terminated[0] and not truncated[0]
    observation, _, terminated, truncated, info = env.step(np.array([[0, 1]]))
    assert not terminated[0] and truncated[0]
    np.testing.assert_allclose(info["final_observation"][LATENT][0], INITIAL_Z + 2)
    np.testing.assert_allclose(observation[LATENT][0], INITIAL_Z)


def reference_step(row_state, action, model, max_steps, invalid_reward=-100.0, done_threshold=0.5):
    """One row stepped on its own with plain Python: (new row state, reward, terminated, truncated, invalid, final)."""
    xfer, location = int(action[0]), int(action[1])
    state = dict(row_state)
    reward, done, invalid = 0.0, False, False
    if xfer < NUM_XFERS:
        if state[XFER_MASK][xfer] and location < state[LOCATION_COUNTS][xfer]:
            predicted = model.dream_step(state[LATENT][None], np.array([xfer]), np.array([location]), state[HIDDEN_STATE][None],
                                         state[CELL_STATE][None])
            state.update({LATENT: predicted["next_z"][0], HIDDEN_STATE: predicted["hidden_state"][0],
                          CELL_STATE: predicted["cell_state"][0], XFER_MASK: predicted["xfer_mask"][0],
                          LOCATION_COUNTS: predicted["location_counts"][0]})
            reward, done = float(predicted["reward"][0]), bool(predicted["done_probability"][0] > done_threshold)
        else:
            reward, invalid = invalid_reward, True
    state["steps"] += 1
    terminated = xfer == NUM_XFERS or done or not state[XFER_MASK][:NUM_XFERS].any()
    truncated = not terminated and state["steps"] >= max_steps
    final = dict(state)
    if terminated or truncated:
        state = {LATENT: INITIAL_Z, HIDDEN_STATE: np.zeros(UNITS, np.float32), CELL_STATE: np.zeros(UNITS, np.float32),
                 XFER_MASK: INITIAL_MASK, LOCATION_COUNTS: INITIAL_COUNTS, "steps": 0}
    return state, reward, terminated, truncated, invalid, final


def test_batched_steps_equal_each_row_stepped_alone_over_random_actions():
    rows, max_steps = 6, 5
    env, _ = make_env(num_envs=rows, max_steps=max_steps)
    observation, _ = env.reset()
    reference_model = CountingWorldModel()
    references = [{LATENT: INITIAL_Z, HIDDEN_STATE: np.zeros(UNITS, np.float32), CELL_STATE: np.zeros(UNITS, np.float32),
                   XFER_MASK: INITIAL_MASK, LOCATION_COUNTS: INITIAL_COUNTS, "steps": 0} for _ in range(rows)]
    rng = np.random.default_rng(11)
    outcomes = set()
    for _ in range(40):
        # Mostly NO-OP-free actions, valid or not, so episodes run long enough to be truncated too.
        actions = np.stack([rng.choice(NUM_XFERS + 1, size=rows, p=[0.45, 0.1, 0.4, 0.05]), rng.integers(0, LOCATIONS, rows)], 1)
        observation, rewards, terminated, truncated, info = env.step(actions)
        for row in range(rows):
            references[row], reward, ended, cut, invalid, final = reference_step(references[row], actions[row], reference_model, max_steps)
            assert (terminated[row], truncated[row], info["invalid"][row]) == (ended, cut, invalid)
            assert rewards[row] == pytest.approx(reward, rel=1e-6)
            outcomes.add((ended, cut, invalid))
            for key in (LATENT, HIDDEN_STATE, CELL_STATE, XFER_MASK, LOCATION_COUNTS):
                np.testing.assert_allclose(observation[key][row], references[row][key], err_msg=key)
                np.testing.assert_allclose(info["final_observation"][key][row], final[key], err_msg=key)
            np.testing.assert_array_equal(observation[LOCATION_MASKS][row], np.arange(LOCATIONS) < references[row][LOCATION_COUNTS][:, None])
        np.testing.assert_array_equal(env.steps, [reference["steps"] for reference in references])
    # The random actions reached every kind of step: plain, invalid, terminated and truncated.
    assert {(False, False, False), (False, False, True), (True, False, False), (False, True, False)} <= outcomes


def test_the_world_model_is_called_once_per_step_for_the_whole_batch():
    env, model = make_env(num_envs=7)
    env.reset()
    for _ in range(3):
        env.step(np.tile([[0, 0]], (7, 1)))
    assert model.calls == 3


def test_state_round_trips():
    env, _ = make_env()
    env.reset()
    env.step(np.array([[0, 0], [1, 1], [0, 0]]))
    saved = env.get_state()
    expected = env.step(np.array([[0, 1], [3, 0], [0, 0]]))
    env.reset()
    env.set_state(saved)
    again = env.step(np.array([[0, 1], [3, 0], [0, 0]]))
    for key in DREAM_FIELDS:
        np.testing.assert_array_equal(again[0][key], expected[0][key])
    np.testing.assert_array_equal(again[1], expected[1])


@pytest.mark.parametrize("actions, message", [
    (np.array([[0, 0], [0, 0]]), r"shape \(3, 2\)"),
    (np.zeros((3, 2), np.float32), "integers"),
    (np.array([[4, 0], [0, 0], [0, 0]]), r"xfer ids must be in \[0, 3\]"),
    (np.array([[0, 4], [0, 0], [0, 0]]), r"locations must be in \[0, 4\)"),
])
def test_bad_actions_are_refused(actions, message):
    env, _ = make_env()
    env.reset()
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_step_before_reset_and_bad_arguments_are_refused():
    env, model = make_env()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match="dream_step"):
        DreamEnv(object(), INITIAL_Z, INITIAL_MASK, INITIAL_COUNTS, 1, LOCATIONS, UNITS)
    with pytest.raises(ValueError, match="initial_location_counts must have shape"):
        DreamEnv(model, INITIAL_Z, INITIAL_MASK, INITIAL_COUNTS[:2], 1, LOCATIONS, UNITS)
    with pytest.raises(ValueError, match=r"in \[0, 4\]"):
        DreamEnv(model, INITIAL_Z, INITIAL_MASK, np.array([1, 5, 0]), 1, LOCATIONS, UNITS)
    with pytest.raises(ValueError, match="num_envs"):
        DreamEnv(model, INITIAL_Z, INITIAL_MASK, INITIAL_COUNTS, 0, LOCATIONS, UNITS)
    with pytest.raises(ValueError, match="set_state"):
        env.set_state({LATENT: np.zeros((2, LATENT_SIZE))})
