"""MDNRNN: predictions and loss against numpy, padding, the dream step, temperature, learning, bad inputs."""
import numpy as np
import pytest
import tensorflow as tf

from rlgraph_xflow.components.memories import MDNRNN
from rlgraph_xflow.components.memories.mdn_rnn import ALWAYS_VALID_LOGIT, LOSS_PARTS
from rlgraph_xflow.components.optimizers import Adam
from rlgraph_xflow.core import (
    BoolBox, Component, ComponentTest, FloatBox, IntBox, SpaceError, SpaceMismatchError, SpecError, api,
)

from tests.components.numpy_reference import log_softmax, mdn_rnn_loss, mdn_rnn_predict, sigmoid

LATENT, XFERS, LOCATIONS, UNITS, MIXTURES = 4, 3, 5, 16, 3
SEQUENCE = {"batch_rank": True, "time_rank": True}
BATCH = {"batch_rank": True}
MIN_LOG_STD = -5.0
WEIGHTS = {"reward": 0.5, "done": 2.0, "xfer_mask": 1.5, "location_counts": 0.25}


def sequence_spaces(latent=LATENT, xfers=XFERS, locations=LOCATIONS):
    return {
        "z": FloatBox((latent,), **SEQUENCE), "xfers": IntBox(xfers + 1, **SEQUENCE), "locations": IntBox(locations, **SEQUENCE),
        "next_z": FloatBox((latent,), **SEQUENCE), "rewards": FloatBox((), **SEQUENCE), "dones": BoolBox((), **SEQUENCE),
        "next_xfer_mask": BoolBox((xfers + 1,), **SEQUENCE),
        "next_location_counts": IntBox(locations + 1, shape=(xfers,), **SEQUENCE),
        "lengths": IntBox(low=0, **BATCH),
    }


def step_spaces(latent=LATENT, xfers=XFERS, locations=LOCATIONS, units=UNITS):
    return {
        "current_z": FloatBox((latent,), **BATCH), "current_xfers": IntBox(xfers + 1, **BATCH),
        "current_locations": IntBox(locations, **BATCH), "hidden_state": FloatBox((units,), **BATCH),
        "cell_state": FloatBox((units,), **BATCH),
    }


ALL_SPACES = {**sequence_spaces(), **step_spaces(), "initial_hidden_state": FloatBox((UNITS,), **BATCH),
              "initial_cell_state": FloatBox((UNITS,), **BATCH)}


def random_episodes(rng, batch, steps, lengths):
    """Random padded sequences for every loss argument; padded steps hold garbage on purpose."""
    counts = rng.integers(0, LOCATIONS + 1, size=(batch, steps, XFERS)).astype(np.int32)
    return {
        "z": rng.standard_normal((batch, steps, LATENT)).astype(np.float32),
        "xfers": rng.integers(0, XFERS + 1, size=(batch, steps)).astype(np.int32),
        "locations": rng.integers(0, LOCATIONS, size=(batch, steps)).astype(np.int32),
        "next_z": rng.standard_normal((batch, steps, LATENT)).astype(np.float32),
        "rewards": rng.standard_normal((batch, steps)).astype(np.float32),
        "dones": rng.random((batch, steps)) < 0.3,
        "next_xfer_mask": np.concatenate([counts > 0, np.ones((batch, steps, 1), bool)], axis=-1),
        "next_location_counts": counts,
        "lengths": np.asarray(lengths, np.int32),
    }


LOSS_ARGUMENTS = ("z", "xfers", "locations", "next_z", "rewards", "dones", "next_xfer_mask", "next_location_counts", "lengths")


@pytest.fixture(scope="module")
def model_test():
    model = MDNRNN(LATENT, XFERS, LOCATIONS, lstm_units=UNITS, num_mixtures=MIXTURES, temperature=1.0,
                   min_log_std=MIN_LOG_STD, loss_weights=WEIGHTS, seed=3)
    return ComponentTest(model, ALL_SPACES)


def _predict(model_test, episodes, hidden, cell):
    return model_test.test(("predict", (episodes["z"], episodes["xfers"], episodes["locations"], hidden, cell, episodes["lengths"])))


def test_predict_matches_numpy_with_lengths_and_an_initial_state(model_test):
    rng = np.random.default_rng(0)
    episodes = random_episodes(rng, 4, 6, [6, 3, 1, 0])
    hidden = rng.standard_normal((4, UNITS)).astype(np.float32) * 0.5
    cell = rng.standard_normal((4, UNITS)).astype(np.float32) * 0.5
    expected = mdn_rnn_predict(model_test.read_variable_values(), "mdn_rnn", episodes["z"], episodes["xfers"], episodes["locations"],
                               MIXTURES, MIN_LOG_STD, ALWAYS_VALID_LOGIT, hidden, cell, episodes["lengths"])
    outputs = _predict(model_test, episodes, hidden, cell)
    assert sorted(outputs) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(outputs[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    # A sequence of length 0 keeps its initial state.
    np.testing.assert_allclose(outputs["hidden_state"][3], hidden[3], rtol=1e-6)
    assert outputs["mixture_log_stds"].min() >= MIN_LOG_STD


def test_loss_matches_numpy_including_the_mixture_nll(model_test):
    rng = np.random.default_rng(1)
    episodes = random_episodes(rng, 4, 5, [5, 2, 4, 0])
    losses = model_test.test(("loss", tuple(episodes[name] for name in LOSS_ARGUMENTS)))
    predictions = mdn_rnn_predict(model_test.read_variable_values(), "mdn_rnn", episodes["z"], episodes["xfers"], episodes["locations"],
                                  MIXTURES, MIN_LOG_STD, ALWAYS_VALID_LOGIT)
    expected = mdn_rnn_loss(predictions, episodes["next_z"], episodes["rewards"], episodes["dones"], episodes["next_xfer_mask"],
                            episodes["next_location_counts"], episodes["lengths"], LOCATIONS, WEIGHTS)
    assert sorted(losses) == sorted(LOSS_PARTS)
    for name in LOSS_PARTS:
        assert losses[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-5), name
    assert losses["location_count_loss"] >= 0.0


def test_padded_steps_change_neither_the_loss_nor_the_final_state(model_test):
    rng = np.random.default_rng(2)
    lengths = [4, 1, 3]
    episodes = random_episodes(rng, 3, 6, lengths)
    altered = random_episodes(np.random.default_rng(99), 3, 6, lengths)
    for b, length in enumerate(lengths):
        for name in LOSS_ARGUMENTS[:-1]:
            altered[name][b, :length] = episodes[name][b, :length]
    arguments = [tuple(e[name] for name in LOSS_ARGUMENTS) for e in (episodes, altered)]
    first, second = (model_test.test(("loss", a)) for a in arguments)
    for name in LOSS_PARTS:
        assert first[name] == pytest.approx(second[name], rel=1e-6), name
    zeros = np.zeros((3, UNITS), np.float32)
    first_state, second_state = (_predict(model_test, e, zeros, zeros) for e in (episodes, altered))
    np.testing.assert_allclose(first_state["hidden_state"], second_state["hidden_state"], rtol=1e-6)
    np.testing.assert_allclose(first_state["cell_state"], second_state["cell_state"], rtol=1e-6)
    # Without the padding the same episodes give the same loss (no divide-by-T anywhere).
    cut = {name: value[:, :4] if name != "lengths" else value for name, value in episodes.items()}
    trimmed = model_test.test(("loss", tuple(cut[name] for name in LOSS_ARGUMENTS)))
    assert trimmed["total_loss"] == pytest.approx(first["total_loss"], rel=1e-5)


def test_the_dream_step_uses_the_same_weights_as_the_unroll(model_test):
    rng = np.random.default_rng(3)
    episodes = random_episodes(rng, 2, 4, [4, 4])
    hidden = np.zeros((2, UNITS), np.float32)
    cell = np.zeros((2, UNITS), np.float32)
    predicted = _predict(model_test, episodes, hidden, cell)
    for t in range(4):
        step = model_test.test(("sample_next", (episodes["z"][:, t], episodes["xfers"][:, t], episodes["locations"][:, t], hidden, cell)))
        hidden, cell = step["hidden_state"], step["cell_state"]
        np.testing.assert_allclose(step["reward"], predicted["reward"][:, t], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(step["done_probability"], sigmoid(predicted["done_logits"][:, t]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hidden, predicted["hidden_state"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cell, predicted["cell_state"], rtol=1e-4, atol=1e-6)


# Temperature: heads with zero kernels, so every prediction is its bias.
MIXTURE_LOGITS = np.array([1.0, 0.0, -1.0], np.float32)
MIXTURE_MEANS = np.array([[-20.0] * LATENT, [0.0] * LATENT, [20.0] * LATENT], np.float32)
MIXTURE_LOG_STDS = np.array([np.log(0.5), 0.0, np.log(2.0)], np.float32)
VALIDITY_BIAS = np.array([2.0, -3.0, 0.5], np.float32)
COUNT_BIAS = np.array([0.3, 1.0, -4.0], np.float32)


def _constant_heads_test(temperature, seed=0):
    model = MDNRNN(LATENT, XFERS, LOCATIONS, lstm_units=UNITS, num_mixtures=MIXTURES, temperature=temperature, seed=seed)
    test = ComponentTest(model, step_spaces(), apis=["sample_next"])
    for head in model.heads.values():
        head.kernel.assign(tf.zeros_like(head.kernel))
    # The raw log-std bias that the smooth floor maps onto MIXTURE_LOG_STDS.
    raw_log_stds = MIN_LOG_STD + np.log(np.expm1(MIXTURE_LOG_STDS - MIN_LOG_STD))
    biases = {"mixture_logits": MIXTURE_LOGITS, "mixture_means": MIXTURE_MEANS.reshape(-1),
              "mixture_log_stds": np.repeat(raw_log_stds, LATENT), "reward": [0.75], "done": [-1.0],
              "xfer_validity": VALIDITY_BIAS, "location_counts": COUNT_BIAS}
    for name, bias in biases.items():
        model.heads[name].bias.assign(np.asarray(bias, np.float32))
    return test


def _dream(test, batch):
    rng = np.random.default_rng(4)
    return test.test(("sample_next", (rng.standard_normal((batch, LATENT)).astype(np.float32),
                                      rng.integers(0, XFERS + 1, batch).astype(np.int32),
                                      rng.integers(0, LOCATIONS, batch).astype(np.int32),
                                      rng.standard_normal((batch, UNITS)).astype(np.float32),
                                      rng.standard_normal((batch, UNITS)).astype(np.float32))))


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_divides_the_logits_and_scales_sigma_by_its_square_root(temperature):
    samples = _dream(_constant_heads_test(temperature), 20000)["next_z"]
    # The means lie 20 apart, so each sample's component is unambiguous.
    component = np.argmin(np.abs(samples[:, :1] - MIXTURE_MEANS[None, :, 0]), axis=1)
    frequencies = np.bincount(component, minlength=MIXTURES) / len(component)
    expected = np.exp(log_softmax(MIXTURE_LOGITS / temperature))
    np.testing.assert_allclose(frequencies, expected, atol=0.025)
    for k in range(MIXTURES):
        chosen = samples[component == k]
        sigma = np.exp(MIXTURE_LOG_STDS[k]) * np.sqrt(temperature)
        np.testing.assert_allclose(chosen.mean(axis=0), MIXTURE_MEANS[k], atol=0.15 * sigma + 0.05)
        # All dimensions share sigma, so their deviations are pooled.
        assert np.std(chosen - MIXTURE_MEANS[k]) == pytest.approx(sigma, rel=0.1)


def test_temperature_zero_is_deterministic_and_masks_agree_with_counts():
    outputs = _dream(_constant_heads_test(0.0), 5)
    np.testing.assert_array_equal(outputs["next_z"], np.tile(MIXTURE_MEANS[0], (5, 1)))
    np.testing.assert_allclose(outputs["reward"], 0.75)
    np.testing.assert_allclose(outputs["done_probability"], sigmoid(-1.0), rtol=1e-6)
    np.testing.assert_array_equal(outputs["xfer_mask"], np.tile([True, False, True, True], (5, 1)))
    # Valid xfers: round(L * sigmoid(bias)) but at least 1 (0.0898 * 5 rounds to 0); invalid: 0.
    expected_counts = [int(np.round(LOCATIONS * sigmoid(0.3))), 0, 1]
    assert expected_counts == [3, 0, 1]
    np.testing.assert_array_equal(outputs["location_counts"], np.tile(expected_counts, (5, 1)))


# Learning -------------------------------------------------------------------
class _WorldModelTrainer(Component):
    """Root: an MDN-RNN and Adam over it; `train` computes the loss and takes one step."""

    def __init__(self, model):
        super().__init__(scope="trainer")
        self.model = model
        self.optimizer = Adam(learning_rate=1e-2, targets=[model], max_gradient_norm=5.0)
        self.add_components(model, self.optimizer)

    @api
    def train(self, z, xfers, locations, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths):
        losses = self.model.loss(z, xfers, locations, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths)
        return losses, self.optimizer.step(losses["total_loss"])

    @api
    def predict(self, z, xfers, locations, lengths):
        return self.model.predict(z, xfers, locations, lengths=lengths)


def deterministic_episodes(rng, batch, steps):
    """Episodes of a deterministic transition: z' depends on z and the action only.

    z' = 0.8 * roll(z) + effect[xfer] + 0.2 * location; reward = z'_0 - z_0;
    the last step of each episode is NO-OP (done); xfer i is valid in z' iff
    z'_i > 0, with count ceil(L * tanh(z'_i)).
    """
    effects = np.random.default_rng(7).uniform(-0.6, 0.6, size=(XFERS + 1, LATENT))
    effects[XFERS] = 0.0
    lengths = rng.integers(2, steps + 1, size=batch)
    z = np.zeros((batch, steps + 1, LATENT))
    z[:, 0] = rng.uniform(-1, 1, size=(batch, LATENT))
    xfers = rng.integers(0, XFERS, size=(batch, steps))
    xfers[np.arange(batch), lengths - 1] = XFERS
    locations = rng.integers(0, LOCATIONS, size=(batch, steps))
    for t in range(steps):
        z[:, t + 1] = np.tanh(0.8 * np.roll(z[:, t], 1, axis=-1) + effects[xfers[:, t]] + 0.2 * locations[:, t, None])
    next_z = z[:, 1:]
    counts = np.where(next_z[..., :XFERS] > 0, np.ceil(LOCATIONS * np.tanh(np.maximum(next_z[..., :XFERS], 0))), 0)
    return {
        "z": z[:, :-1].astype(np.float32), "xfers": xfers.astype(np.int32), "locations": locations.astype(np.int32),
        "next_z": next_z.astype(np.float32), "rewards": (next_z[..., 0] - z[:, :-1, 0]).astype(np.float32),
        "dones": xfers == XFERS, "next_xfer_mask": np.concatenate([counts > 0, np.ones(counts.shape[:2] + (1,), bool)], axis=-1),
        "next_location_counts": counts.astype(np.int32), "lengths": lengths.astype(np.int32),
    }


def test_learns_a_deterministic_transition():
    model = MDNRNN(LATENT, XFERS, LOCATIONS, lstm_units=32, num_mixtures=2, seed=1)
    trainer = ComponentTest(_WorldModelTrainer(model), sequence_spaces())
    episodes = deterministic_episodes(np.random.default_rng(5), batch=32, steps=6)
    arguments = tuple(episodes[name] for name in LOSS_ARGUMENTS)
    history = [trainer.test(("train", arguments))[0] for _ in range(250)]
    first, last = history[0], history[-1]
    # An untrained mixture (sigma ~ 1) scores about 4 nats per 4-dim step; the
    # floor of the log std allows down to about -16.
    assert first["z_nll"] > 2.0
    assert last["z_nll"] < -5.0, [round(float(h["z_nll"]), 2) for h in history[::50]]
    for name in ("reward_loss", "done_loss", "xfer_mask_loss", "location_count_loss"):
        assert last[name] < 0.5 * first[name], (name, first[name], last[name])
    # The learned means (most likely component) follow the real next latent.
    predictions = trainer.test(("predict", (episodes["z"], episodes["xfers"], episodes["locations"], episodes["lengths"])))
    best = np.argmax(predictions["mixture_logits"], axis=-1)
    means = np.take_along_axis(predictions["mixture_means"], best[..., None, None], axis=-2)[..., 0, :]
    valid = np.arange(6)[None, :] < episodes["lengths"][:, None]
    assert np.abs(means - episodes["next_z"])[valid].mean() < 0.1


# Bad inputs -----------------------------------------------------------------
@pytest.mark.parametrize("arguments, key", [
    ({"latent_size": 0}, "world.latent_size"),
    ({"num_xfers": 2.5}, "world.num_xfers"),
    ({"max_locations": -1}, "world.max_locations"),
    ({"lstm_units": 0}, "world.lstm_units"),
    ({"num_mixtures": True}, "world.num_mixtures"),
    ({"temperature": -0.1}, "world.temperature"),
    ({"xfer_embedding_size": 0}, "world.xfer_embedding_size"),
    ({"location_embedding_size": "8"}, "world.location_embedding_size"),
    ({"min_log_std": None}, "world.min_log_std"),
    ({"loss_weights": {"rewards": 1.0}}, "world.loss_weights"),
    ({"loss_weights": {"done": -1.0}}, "world.loss_weights.done"),
    ({"loss_weights": [1.0]}, "world.loss_weights"),
])
def test_bad_arguments_name_the_key(arguments, key):
    sizes = {"latent_size": LATENT, "num_xfers": XFERS, "max_locations": LOCATIONS}
    with pytest.raises(SpecError) as caught:
        MDNRNN(key_path="world", **{**sizes, **arguments})
    assert caught.value.key_path == key


@pytest.mark.parametrize("replacement, argument", [
    ({"z": FloatBox((LATENT + 1,), **SEQUENCE)}, "z"),
    ({"z": FloatBox((LATENT,), **BATCH)}, "z"),
    ({"xfers": IntBox(XFERS + 2, **SEQUENCE)}, "xfers"),
    ({"locations": IntBox(**SEQUENCE)}, "locations"),
    ({"next_z": FloatBox((LATENT,), batch_rank=True, time_rank=True, time_major=True)}, "next_z"),
    ({"dones": FloatBox((), **SEQUENCE)}, "dones"),
    ({"next_xfer_mask": BoolBox((XFERS,), **SEQUENCE)}, "next_xfer_mask"),
    ({"next_location_counts": IntBox(LOCATIONS + 2, shape=(XFERS,), **SEQUENCE)}, "next_location_counts"),
    ({"lengths": IntBox(low=0, **SEQUENCE)}, "lengths"),
])
def test_bad_sequence_spaces_are_refused_at_trace_time(replacement, argument):
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(MDNRNN(LATENT, XFERS, LOCATIONS, lstm_units=UNITS), {**sequence_spaces(), **replacement}, apis=["loss"])
    assert caught.value.argument == argument and caught.value.api == "loss"


@pytest.mark.parametrize("replacement, argument", [
    ({"current_z": FloatBox((LATENT,), **SEQUENCE)}, "current_z"),
    ({"current_xfers": IntBox(XFERS + 1, low=-1, **BATCH)}, "current_xfers"),
    ({"hidden_state": FloatBox((UNITS + 1,), **BATCH)}, "hidden_state"),
])
def test_bad_step_spaces_are_refused_at_trace_time(replacement, argument):
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(MDNRNN(LATENT, XFERS, LOCATIONS, lstm_units=UNITS), {**step_spaces(), **replacement}, apis=["sample_next"])
    assert caught.value.argument == argument and caught.value.api == "sample_next"


def test_an_initial_state_of_the_wrong_width_is_refused_at_trace_time():
    spaces = {**sequence_spaces(), "initial_hidden_state": FloatBox((UNITS - 1,), **BATCH)}
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(MDNRNN(LATENT, XFERS, LOCATIONS, lstm_units=UNITS), spaces, apis=["predict"])
    assert caught.value.argument == "initial_hidden_state"


def test_inconsistent_run_time_values_are_refused_with_the_argument_name(model_test):
    episodes = random_episodes(np.random.default_rng(6), 2, 3, [3, 4])
    with pytest.raises(tf.errors.InvalidArgumentError, match="mdn_rnn: argument lengths holds a length above T"):
        model_test.test(("loss", tuple(episodes[name] for name in LOSS_ARGUMENTS)))
    episodes["lengths"] = np.array([3, 2], np.int32)
    episodes["rewards"] = episodes["rewards"][:, :2]
    with pytest.raises(tf.errors.InvalidArgumentError, match="mdn_rnn: argument rewards must be"):
        model_test.test(("loss", tuple(episodes[name] for name in LOSS_ARGUMENTS)))
    episodes = random_episodes(np.random.default_rng(6), 2, 3, [3, 2])
    episodes["xfers"][0, 0] = XFERS + 1
    with pytest.raises(SpaceError, match="argument 'xfers'"):
        model_test.test(("loss", tuple(episodes[name] for name in LOSS_ARGUMENTS)))
