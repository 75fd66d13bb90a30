"""Real episodes for the world model: chosen-action collection, the collector's records, the dataset, padding, metrics, bad input."""
import numpy as np
import pytest

from rlgraph_xflow.agents.world_model_episodes import (EpisodeDataset, RealEpisodeCollector, RecordedEpisode,
                                                       pad_episodes, world_model_metrics)
from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.execution.local import LocalExecution, random_valid_actions

ENV_SPEC = {"graph": "squeezenet1_1", "max_steps": 3, "max_locations": 8, "reward": {"type": "incremental", "normalize": True}}


def _encode(graph_tuple):
    """A stand-in encoder: each graph's global cost features (the collector only needs one latent per graph)."""
    return np.asarray(graph_tuple.globals, np.float32)


@pytest.fixture(scope="module")
def executions():
    return LocalExecution(dict(ENV_SPEC), num_envs=2), LocalExecution(dict(ENV_SPEC), num_envs=2)


def test_chosen_actions_collect_what_the_execution_collects_for_the_same_actions(executions):
    """The random agent's choices, made by a caller, give the execution's own random-agent transitions."""
    chosen_execution, random_execution = executions
    chosen_execution.reset()
    random_execution.reset()
    num_xfers = chosen_execution.sample_env.num_xfers
    rng = np.random.default_rng(7)
    chosen = chosen_execution.collect_transitions(7,
                                        lambda observation: random_valid_actions(observation[LOCATION_MASKS], rng, num_xfers))
    expected = random_execution.collect_random_transitions(7, np.random.default_rng(7))
    assert any(transition.finished for transition in expected)   # the comparison covers ended episodes
    for mine, reference in zip(chosen, expected, strict=True):
        np.testing.assert_array_equal(mine.actions, reference.actions)
        np.testing.assert_array_equal(mine.rewards, reference.rewards)
        np.testing.assert_array_equal(mine.dones, reference.dones)
        np.testing.assert_array_equal(mine.observation[LOCATION_MASKS], reference.observation[LOCATION_MASKS])
        assert mine.finished == reference.finished
        assert sorted(mine.final_observations) == sorted(reference.final_observations)
        for index, final in mine.final_observations.items():
            np.testing.assert_array_equal(final[XFER_MASK], reference.final_observations[index][XFER_MASK])
            np.testing.assert_array_equal(final[GRAPH_TUPLE].nodes, reference.final_observations[index][GRAPH_TUPLE].nodes)
        assert [info["runtime_ms"] for info in mine.infos] == [info["runtime_ms"] for info in reference.infos]


def test_the_collector_records_chosen_actions_and_the_best_prefix_of_unfinished_episodes(executions):
    execution, _ = executions
    env = XflowEnv(**ENV_SPEC)
    initial_observation, initial_info = env.reset()
    initial_latent = _encode(initial_observation[GRAPH_TUPLE])[0]
    num_xfers = env.num_xfers
    collector = RealEpisodeCollector(execution, _encode, initial_info["runtime_ms"], num_xfers)
    collector.reset()
    # Always the last valid location of the first valid xfer: never NO-OP, so
    # every episode runs to max_steps = 3 and 4 steps leave each one running.
    def last_location_of_first_xfer(observation):
        masks = np.asarray(observation[LOCATION_MASKS])
        xfers = masks.any(-1).argmax(-1)
        return np.stack([xfers, masks[np.arange(len(xfers)), xfers].sum(-1) - 1], axis=1).astype(np.int64)

    finished = collector.collect_chosen(4, last_location_of_first_xfer)
    assert len(finished) == 2 and all(len(episode) == 3 and episode.dones == [False, False, True] for episode in finished)
    running = collector.unfinished()
    assert len(running) == 2 and all(len(episode) == 1 and len(episode.latents) == 2 for episode in running)
    for episode in finished + running:
        # Reference: replay the recorded actions in a fresh environment and
        # take the cheapest graph (the initial one included) by hand.
        env.reset()
        runtimes = [initial_info["runtime_ms"]]
        for xfer, location in zip(episode.xfers, episode.locations):
            _, _, _, _, info = env.step((xfer, location))
            assert not info["invalid"]
            runtimes.append(info["runtime_ms"])
        outcome = episode.outcome_so_far()
        assert outcome.applied_steps == list(zip(episode.xfers, episode.locations))
        assert outcome.best_runtime_ms == pytest.approx(min(runtimes), rel=1e-12)
        assert outcome.best_prefix_length == int(np.argmin(runtimes))
        np.testing.assert_array_equal(episode.latents[0], initial_latent)   # every episode starts at the initial graph


def test_chosen_collection_refuses_bad_actions_and_bad_step_counts(executions):
    execution, _ = executions
    execution.reset()
    with pytest.raises(ValueError, match=r"integer actions of shape \(2, 2\), got int64 \(3, 2\)"):
        execution.collect_transitions(1, lambda observation: np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match=r"integer actions of shape \(2, 2\), got float64 \(2, 2\)"):
        execution.collect_transitions(1, lambda observation: np.zeros((2, 2)))
    with pytest.raises(ValueError, match="steps_per_env must be an int >= 1, got 0"):
        execution.collect_transitions(0, lambda observation: np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="neither an outcome nor a progress record"):
        RecordedEpisode().outcome_so_far()


def _episode(marker: float, length: int) -> RecordedEpisode:
    """An episode whose latents all hold `marker` (to tell episodes apart after shuffling)."""
    episode = RecordedEpisode()
    for step in range(length + 1):
        episode.add_state(np.full(2, marker, np.float32), np.array([True, step % 2 == 0, True]), np.array([step, 1]))
    episode.xfers, episode.locations = [step % 3 for step in range(length)], [step % 2 for step in range(length)]
    episode.rewards, episode.dones = [marker / 10 + step for step in range(length)], [step == length - 1 for step in range(length)]
    return episode


def test_the_dataset_keeps_the_newest_episodes_round_trips_its_state_and_passes_over_every_episode():
    dataset = EpisodeDataset(max_episodes=4)
    dataset.add([_episode(marker, 1 + marker % 3) for marker in range(3)])
    dataset.add([_episode(marker, 1 + marker % 3) for marker in range(3, 6)])
    assert [float(episode.latents[0][0]) for episode in dataset.episodes] == [2.0, 3.0, 4.0, 5.0]   # oldest dropped
    assert dataset.steps == 3 + 1 + 2 + 3
    restored = EpisodeDataset()
    restored.set_state(dataset.get_state())
    for key, value in pad_episodes(dataset.episodes).items():
        np.testing.assert_array_equal(pad_episodes(restored.episodes)[key], value, err_msg=key)
    batches = list(restored.minibatches(3, np.random.default_rng(0)))
    assert [len(batch["lengths"]) for batch in batches] == [3, 1]
    seen = sorted(float(batch["z"][row, 0, 0]) for batch in batches for row in range(len(batch["lengths"])))
    assert seen == [2.0, 3.0, 4.0, 5.0]
    empty = EpisodeDataset()
    empty.set_state(EpisodeDataset().get_state())
    assert len(empty) == 0 and list(empty.minibatches(2, np.random.default_rng(0))) == []


def test_the_dataset_refuses_bad_input():
    with pytest.raises(ValueError, match="max_episodes must be None or an int >= 1, got 0"):
        EpisodeDataset(max_episodes=0)
    with pytest.raises(ValueError, match="must have T >= 1 steps and T \\+ 1 states, got 0 steps and 0 states"):
        EpisodeDataset().add([RecordedEpisode()])
    state = EpisodeDataset()
    state.add([_episode(1.0, 2)])
    saved = state.get_state()
    with pytest.raises(ValueError, match=r"missing \['dones'\]"):
        EpisodeDataset().set_state({key: value for key, value in saved.items() if key != "dones"})
    with pytest.raises(ValueError, match="'latents' must have 3 rows for episodes of lengths summing to 2, got 2"):
        EpisodeDataset().set_state(dict(saved, latents=saved["latents"][:2]))
    with pytest.raises(ValueError, match="'lengths' must be a vector of ints >= 1"):
        EpisodeDataset().set_state(dict(saved, lengths=np.array([0])))


def test_world_model_metrics_match_hand_computed_values():
    big = 1e9
    batch = {
        "rewards": np.array([[0.1, 0.2], [5.0, 5.0]], np.float32), "dones": np.array([[False, True], [True, True]]),
        "next_xfer_mask": np.array([[[1, 0, 1], [0, 0, 1]], [[1, 1, 1], [1, 1, 1]]], bool),
        "next_location_counts": np.array([[[3, 0], [0, 0]], [[4, 4], [4, 4]]], np.int32), "lengths": np.array([2, 0], np.int32),
    }
    predictions = {
        "reward": np.array([[0.15, 0.0], [0.0, 0.0]], np.float32), "done_logits": np.array([[-1.0, 2.0], [-5.0, -5.0]]),
        "xfer_validity_logits": np.array([[[1.0, -1.0, big], [1.0, -1.0, big]], [[-1.0, -1.0, big], [-1.0, -1.0, big]]]),
        "location_count_logits": np.zeros((2, 2, 2)),
    }
    metrics = world_model_metrics(batch, predictions, z_nll=1.5, max_locations=4)
    # Row 1 is all padding. Predicted counts: xfer 0 valid with round(0.5 * 4) = 2; xfer 1 invalid (0).
    assert metrics == pytest.approx({"z_nll": 1.5, "reward_mae": 0.125, "done_accuracy": 1.0, "xfer_mask_accuracy": 0.75,
                                     "location_mask_accuracy": 1 - 3 / 16, "mask_accuracy": 0.0, "held_out_steps": 2})


def test_pad_episodes_layout_and_bad_input():
    episode = RecordedEpisode()
    for step in range(3):
        episode.add_state(np.full(2, step, np.float32), np.array([True, step == 0, True]), np.array([step, 1]))
    episode.xfers, episode.locations, episode.rewards, episode.dones = [0, 1], [2, 0], [0.5, 0.25], [False, True]
    short = RecordedEpisode()
    short.add_state(np.zeros(2), np.array([True, True, True]), np.array([1, 1]))
    short.add_state(np.ones(2), np.array([False, False, True]), np.array([0, 0]))
    short.xfers, short.locations, short.rewards, short.dones = [2], [0], [0.0], [True]
    batch = pad_episodes([episode, short])
    np.testing.assert_array_equal(batch["lengths"], [2, 1])
    np.testing.assert_array_equal(batch["z"][0, :, 0], [0, 1])
    np.testing.assert_array_equal(batch["next_z"][0, :, 0], [1, 2])
    np.testing.assert_array_equal(batch["next_location_counts"][0], [[1, 1], [2, 1]])
    np.testing.assert_array_equal(batch["next_xfer_mask"][1, 1], [False, False, True])   # padding: NO-OP stays valid
    np.testing.assert_array_equal(batch["xfers"][1], [2, 0])
    with pytest.raises(ValueError, match="at least one episode"):
        pad_episodes([])
    with pytest.raises(ValueError, match="episode 0 must have T >= 1 steps"):
        pad_episodes([RecordedEpisode()])
