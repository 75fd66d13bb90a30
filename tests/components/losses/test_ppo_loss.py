"""PPOLoss against numpy; clipping behaviour; gradient direction; bad inputs."""
import numpy as np
import pytest

from rlgraph_xflow.components.losses import PPOLoss
from rlgraph_xflow.core import ComponentTest, FloatBox, IntBox, SpaceMismatchError, SpecError

from tests.components.numpy_reference import ppo_loss

ARGUMENTS = ("log_probs", "old_log_probs", "advantages", "values", "old_values", "returns", "xfer_entropy", "location_entropy")
SPACES = {name: FloatBox((), batch_rank=True) for name in ARGUMENTS}


def _batch(seed, size=32):
    rng = np.random.default_rng(seed)
    old = -rng.random(size).astype(np.float32) * 3
    return {
        "log_probs": old + rng.normal(0, 0.4, size).astype(np.float32),
        "old_log_probs": old,
        "advantages": rng.standard_normal(size).astype(np.float32),
        "values": rng.standard_normal(size).astype(np.float32),
        "old_values": rng.standard_normal(size).astype(np.float32),
        "returns": rng.standard_normal(size).astype(np.float32),
        "xfer_entropy": rng.random(size).astype(np.float32),
        "location_entropy": rng.random(size).astype(np.float32),
    }


@pytest.mark.parametrize("settings", [
    {},
    {"clip_ratio": 0.1, "value_clip": 0.2, "normalize_advantages": False, "entropy_coefficient": 0.05, "location_entropy_coefficient": 0.2},
])
def test_loss_parts_match_numpy(settings):
    loss = PPOLoss(**settings)
    test = ComponentTest(loss, SPACES)
    batch = _batch(0)
    expected = ppo_loss(**{k: v.astype(np.float64) for k, v in batch.items()}, clip_ratio=loss.clip_ratio,
                        value_coefficient=loss.value_coefficient, entropy_coefficient=loss.entropy_coefficient,
                        location_entropy_coefficient=loss.location_entropy_coefficient, value_clip=loss.value_clip,
                        normalize_advantages=loss.normalize_advantages)
    outputs = test.test(("loss", tuple(batch[name] for name in ARGUMENTS)))
    assert sorted(outputs) == sorted(expected)
    for name, value in expected.items():
        assert outputs[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    assert 0 < outputs["clip_fraction"] < 1


def test_defaults_are_the_dissertations():
    assert PPOLoss().clip_ratio == 0.3


def test_the_clipped_objective_has_no_gradient_beyond_the_clip():
    """A positive advantage with the ratio already above 1 + eps gives no incentive to raise it further."""
    import tensorflow as tf

    loss = PPOLoss(clip_ratio=0.2, normalize_advantages=False, value_coefficient=0.0, entropy_coefficient=0.0)
    ComponentTest(loss, SPACES)
    log_probs = tf.Variable([np.log(1.5), np.log(1.1)], dtype=tf.float32)
    zeros = tf.zeros(2)
    with tf.GradientTape() as tape:
        parts = loss._graph_fn_loss(log_probs, zeros, tf.ones(2), zeros, zeros, zeros, zeros, zeros)
    gradient = tape.gradient(parts["total_loss"], log_probs).numpy()
    assert gradient[0] == 0.0                       # ratio 1.5 is clipped at 1.2
    assert gradient[1] == pytest.approx(-1.1 / 2)   # d/dlogp of -mean(r * A) = -r / 2


def test_mismatched_ranks_are_refused_at_trace_time():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(PPOLoss(), dict(SPACES, returns=FloatBox((), batch_rank=True, time_rank=True)))
    assert caught.value.argument == "returns"
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(PPOLoss(), dict(SPACES, advantages=IntBox(3, batch_rank=True)))
    assert caught.value.argument == "advantages"


@pytest.mark.parametrize("arguments, key", [
    ({"clip_ratio": 2.0}, "loss.clip_ratio"),
    ({"value_clip": -1.0}, "loss.value_clip"),
    ({"entropy_coefficient": "a lot"}, "loss.entropy_coefficient"),
    ({"normalize_advantages": 1}, "loss.normalize_advantages"),
])
def test_bad_arguments_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        PPOLoss(key_path="loss", **arguments)
    assert caught.value.key_path == key
