"""The world-model agent: real-env memory, world-model learning, the dream step against its numpy twin, bad input."""
import numpy as np
import pytest

from rlgraph_xflow.agents.agent import ObservationSizes
from rlgraph_xflow.agents.world_model import WorldModelAgent, graph_fingerprints, location_counts_of_prefix_masks
from rlgraph_xflow.agents.world_model_episodes import RealEpisodeCollector, pad_episodes, world_model_metrics
from rlgraph_xflow.core import SpecError
from rlgraph_xflow.env.dream_env import DreamEnv
from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK
from rlgraph_xflow.execution.local import LocalExecution

ENV_SPEC = {"graph": "squeezenet1_1", "max_steps": 3, "max_locations": 8, "reward": {"type": "incremental", "normalize": True}}
TINY = {"encoder": {"latent_size": 8, "message_passing_rounds": 2}, "mdn_rnn": {"lstm_units": 16, "num_mixtures": 2},
        "sampler": {"type": "latent_dual_action_sampler", "location_head": {"type": "latent_location_head", "hidden_layers": [8]}},
        "value_head": {"hidden_layers": [8]}, "num_envs": 2, "rollout_steps": 3, "dream_envs": 4, "dream_rollout_steps": 3,
        "dream_steps_per_env_step": 2, "epochs": 1, "minibatch_size": 6, "world_model_minibatch_size": 2}


@pytest.fixture(scope="module")
def setup():
    execution = LocalExecution(dict(ENV_SPEC), num_envs=2)
    agent = WorldModelAgent(ObservationSizes.of_env(execution.sample_env), seed=1, **TINY)
    return agent, execution


def _valid_non_no_op(observation):
    changed = dict(observation)
    changed[XFER_MASK] = np.array(observation[XFER_MASK], copy=True)
    changed[XFER_MASK][:, -1] = False
    return changed


def test_real_env_memory_follows_the_trajectory_and_restarts_at_the_initial_graph(setup):
    agent, execution = setup
    env = execution.sample_env
    initial, _ = env.reset()
    from rlgraph_xflow.env.observation import batch_observations

    agent.reset_memory()
    agent.remember_initial_observation(batch_observations([initial]))
    first = agent.act(_valid_non_no_op(batch_observations([initial])))
    np.testing.assert_array_equal(agent._memory["hidden_state"], 0.0)
    xfer, location = int(first["xfers"][0]), int(first["locations"][0])
    assert xfer < env.num_xfers and initial[LOCATION_MASKS][xfer, location]
    after, _, _, _, info = env.step((xfer, location))
    assert not info["invalid"]
    agent.act(batch_observations([after]), greedy=True)
    z0 = agent.encode(batch_observations([initial])[GRAPH_TUPLE])
    zeros = np.zeros((1, agent.lstm_units), np.float32)
    # The dream step's LSTM (one cell call) must agree with the unrolled one act() used.
    expected = agent.dream_step(z0, [xfer], [location], zeros, zeros)
    np.testing.assert_allclose(agent._memory["hidden_state"], expected["hidden_state"], atol=1e-5)
    np.testing.assert_allclose(agent._memory["cell_state"], expected["cell_state"], atol=1e-5)
    assert np.abs(agent._memory["hidden_state"]).sum() > 0
    agent.act(batch_observations([env.reset()[0]]), greedy=True)
    np.testing.assert_array_equal(agent._memory["hidden_state"], 0.0)
    # An exploring collector replaces the controller's action: h follows the action taken.
    agent.act(batch_observations([initial]))
    taken = np.argwhere(initial[LOCATION_MASKS])[-1]
    agent.set_taken_actions([taken[0]], [taken[1]])
    after, _, _, _, info = env.step((int(taken[0]), int(taken[1])))
    assert not info["invalid"]
    agent.act(batch_observations([after]), greedy=True)
    expected = agent.dream_step(z0, [taken[0]], [taken[1]], zeros, zeros)
    np.testing.assert_allclose(agent._memory["hidden_state"], expected["hidden_state"], atol=1e-5)
    with pytest.raises(ValueError, match=r"expected xfers and locations of shape \(1,\) .*got \(2,\) and \(1,\)"):
        agent.set_taken_actions([0, 0], [0])
    agent.reset_memory()
    with pytest.raises(ValueError, match="set_taken_actions: act\\(\\) has not acted on a real observation"):
        agent.set_taken_actions([0], [0])


def test_fingerprints_tell_graphs_apart_within_a_batch(setup):
    _, execution = setup
    env = execution.sample_env
    from rlgraph_xflow.env.observation import batch_observations

    initial, _ = env.reset()
    valid = np.argwhere(initial[LOCATION_MASKS])[0]
    after, *_ = env.step((int(valid[0]), int(valid[1])))
    prints = graph_fingerprints(batch_observations([initial, after, initial])[GRAPH_TUPLE])
    assert prints[0] == prints[2] != prints[1]


def test_the_world_model_learns_random_episodes(setup):
    agent, execution = setup
    collector = RealEpisodeCollector(execution, agent.encode, execution.sample_env.reset()[1]["runtime_ms"],
                                     agent.sizes.num_xfers)
    episodes = collector.collect_random(6, np.random.default_rng(0))
    assert episodes and all(len(episode.latents) == len(episode) + 1 for episode in episodes)
    batch = pad_episodes(episodes)
    before, before_predictions = agent.evaluate_world_model(batch)
    before_metrics = world_model_metrics(batch, before_predictions, before["z_nll"], agent.sizes.max_locations)
    for _ in range(60):
        agent.update_world_model(batch)
    after, predictions = agent.evaluate_world_model(batch)
    assert after["total_loss"] < before["total_loss"] - 1.0
    assert after["xfer_mask_loss"] < before["xfer_mask_loss"]
    metrics = world_model_metrics(batch, predictions, after["z_nll"], agent.sizes.max_locations)
    assert metrics["held_out_steps"] == int(batch["lengths"].sum())
    assert metrics["xfer_mask_accuracy"] > max(before_metrics["xfer_mask_accuracy"], 0.8)
    assert metrics["reward_mae"] < before_metrics["reward_mae"]


def test_dream_env_runs_on_the_world_model(setup):
    agent, execution = setup
    from rlgraph_xflow.env.observation import batch_observations

    initial, _ = execution.sample_env.reset()
    z0 = agent.encode(batch_observations([initial])[GRAPH_TUPLE])[0]
    dream = DreamEnv(agent, z0, initial[XFER_MASK], initial[LOCATION_MASKS].sum(-1), num_envs=5,
                     max_locations=agent.sizes.max_locations, lstm_units=agent.lstm_units, max_steps=3)
    observation, _ = dream.reset()
    for _ in range(4):
        actions = agent.act(observation)
        assert set(actions) >= {"xfers", "locations", "log_probs", "values"}
        observation, rewards, terminated, truncated, info = dream.step(np.stack([actions["xfers"], actions["locations"]], 1))
        assert rewards.shape == (5,) and np.isfinite(rewards).all()
        assert not info["invalid"].any()   # the controller samples within the predicted masks


def test_the_dream_step_samples_the_numpy_twins_mixture_with_the_same_draws(setup):
    """agent.dream_step against the MDN-RNN's numpy twin, replaying the sampler's own random draws."""
    import tensorflow as tf

    from rlgraph_xflow.components.memories.mdn_rnn import ALWAYS_VALID_LOGIT
    from tests.components.numpy_reference import mdn_rnn_predict, sigmoid

    agent, _ = setup
    model = agent.network.mdn_rnn
    rows, sizes = 24, agent.sizes
    rng = np.random.default_rng(5)
    z = rng.standard_normal((rows, agent.latent_size)).astype(np.float32)
    xfers = rng.integers(0, sizes.num_xfers + 1, rows).astype(np.int32)
    locations = rng.integers(0, sizes.max_locations, rows).astype(np.int32)
    hidden, cell = (rng.uniform(-1, 1, (rows, agent.lstm_units)).astype(np.float32) for _ in range(2))
    # The sampler draws the Gumbel noise [B, K], then the Gaussian noise [B, D].
    replay = tf.random.Generator.from_state(model.generator.state.numpy(), model.generator.algorithm)
    uniform = replay.uniform((rows, model.num_mixtures), minval=np.finfo(np.float32).tiny, maxval=1.0).numpy()
    noise = replay.normal((rows, agent.latent_size)).numpy()
    outputs = agent.dream_step(z, xfers, locations, hidden, cell)
    expected = mdn_rnn_predict(agent.executor.variable_values(), "world_model/mdn_rnn", z[:, None], xfers[:, None],
                               locations[:, None], model.num_mixtures, model.min_log_std, ALWAYS_VALID_LOGIT, hidden, cell)
    expected = {key: value[:, 0] if key not in ("hidden_state", "cell_state") else value for key, value in expected.items()}
    scores = expected["mixture_logits"] / agent.temperature - np.log(-np.log(uniform))
    component = scores.argmax(-1)
    assert (np.sort(scores, -1)[:, -1] - np.sort(scores, -1)[:, -2]).min() > 1e-3   # no near-tie for float32 to flip
    chosen = np.arange(rows), component
    next_z = expected["mixture_means"][chosen] + np.exp(expected["mixture_log_stds"][chosen]) * np.sqrt(agent.temperature) * noise
    np.testing.assert_allclose(outputs["next_z"], next_z, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outputs["hidden_state"], expected["hidden_state"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs["cell_state"], expected["cell_state"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs["reward"], expected["reward"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs["done_probability"], sigmoid(expected["done_logits"]), rtol=1e-4, atol=1e-6)
    xfer_mask = expected["xfer_validity_logits"] > 0
    np.testing.assert_array_equal(outputs["xfer_mask"], xfer_mask)
    counts = np.clip(np.round(sigmoid(expected["location_count_logits"]) * sizes.max_locations), 1, sizes.max_locations)
    np.testing.assert_array_equal(outputs["location_counts"], np.where(xfer_mask[:, :-1], counts, 0))
    # Every mixture component was drawn by some row (the per-component partition is exercised throughout).
    assert len(set(component.tolist())) == model.num_mixtures


def test_bad_dream_step_arguments_name_the_argument(setup):
    agent, _ = setup
    rows, units, latent = 3, agent.lstm_units, agent.latent_size
    good = {"z": np.zeros((rows, latent), np.float32), "xfers": np.zeros(rows, np.int32), "locations": np.zeros(rows, np.int32),
            "hidden_state": np.zeros((rows, units), np.float32), "cell_state": np.zeros((rows, units), np.float32)}
    for name, value, message in (("hidden_state", np.zeros((rows, units + 1)), r"'hidden_state' must have shape \(3, 16\)"),
                                 ("xfers", np.zeros(rows + 1), r"'xfers' must have shape \(3,\)"),
                                 ("xfers", np.array([0, agent.sizes.num_xfers + 1, 0]), r"'xfers' must hold ids in \[0, "),
                                 ("locations", np.array([0, -1, 0]), r"'locations' must hold ids in \[0, 8\)")):
        with pytest.raises(ValueError, match=message):
            agent.dream_step(**dict(good, **{name: value}))


def test_location_counts_of_prefix_masks_match_a_count_and_non_prefix_masks_are_refused():
    counts = np.array([[0, 3, 5], [2, 0, 1]])
    masks = np.arange(5) < counts[..., None]
    np.testing.assert_array_equal(location_counts_of_prefix_masks(masks), counts)
    holed = masks.copy()
    holed[1, 0, 0] = False   # xfer 0 of row 1: location 1 valid, location 0 not
    with pytest.raises(ValueError, match=r"must be prefixes .* row 1, xfer 0 is not: \[1\]"):
        location_counts_of_prefix_masks(holed)
    with pytest.raises(ValueError, match=r"must be \[B, N, L\], got shape \(3, 5\)"):
        location_counts_of_prefix_masks(masks[0])


def test_bad_specs_and_inputs_are_refused(setup):
    agent, execution = setup
    sizes = agent.sizes
    with pytest.raises(SpecError, match="agent.temperature"):
        WorldModelAgent(sizes, temperature=-1.0)
    with pytest.raises(SpecError, match="set the temperature once"):
        WorldModelAgent(sizes, temperature=1.0, mdn_rnn={"temperature": 2.0})
    with pytest.raises(SpecError, match="agent.num_envs"):
        WorldModelAgent(sizes, num_envs=0)
    with pytest.raises(SpecError, match="agent.dream_steps_per_env_step"):
        WorldModelAgent(sizes, dream_steps_per_env_step=0)
    with pytest.raises(ValueError, match="expected a real observation"):
        agent.act({"something": np.zeros(3)})

    with pytest.raises(SpecError, match=r"agent.rounds: expected an int >= 1, got 0"):
        WorldModelAgent(sizes, rounds=0)
    with pytest.raises(SpecError, match=r"agent.real_exploration: expected a probability in \[0, 1\], got 1.5"):
        WorldModelAgent(sizes, real_exploration=1.5)
    with pytest.raises(SpecError, match="agent.world_model_dataset_episodes: expected an int >= 1, got 0"):
        WorldModelAgent(sizes, world_model_dataset_episodes=0)

    class RemoteExecution:
        pass

    with pytest.raises(ValueError, match=r"expected an execution with collect_transitions .*got RemoteExecution"):
        RealEpisodeCollector(RemoteExecution(), agent.encode, 1.0, agent.sizes.num_xfers)
