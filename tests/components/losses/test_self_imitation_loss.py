"""SelfImitationLoss against numpy; which steps it imitates; gradients; bad inputs."""
import numpy as np
import pytest

from rlgraph_xflow.components.losses import SelfImitationLoss
from rlgraph_xflow.core import ComponentTest, FloatBox, IntBox, SpaceMismatchError, SpecError

from tests.components.numpy_reference import self_imitation_loss

ARGUMENTS = ("log_probs", "values", "returns")
SPACES = {name: FloatBox((), batch_rank=True) for name in ARGUMENTS}


def _batch(seed, size=32):
    rng = np.random.default_rng(seed)
    return {"log_probs": -rng.random(size).astype(np.float32) * 3,
            "values": rng.standard_normal(size).astype(np.float32),
            "returns": rng.standard_normal(size).astype(np.float32)}


@pytest.mark.parametrize("settings", [{}, {"coefficient": 0.25, "value_coefficient": 2.0}])
def test_loss_parts_match_numpy(settings):
    loss = SelfImitationLoss(**settings)
    test = ComponentTest(loss, SPACES)
    batch = _batch(0)
    expected = self_imitation_loss(*(batch[name].astype(np.float64) for name in ARGUMENTS),
                                   coefficient=loss.coefficient, value_coefficient=loss.value_coefficient)
    outputs = test.test(("loss", tuple(batch[name] for name in ARGUMENTS)))
    assert sorted(outputs) == sorted(expected)
    for name, value in expected.items():
        assert outputs[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    assert 0 < outputs["imitated_fraction"] < 1


def test_only_steps_that_beat_their_value_are_imitated_and_values_only_rise():
    """Step 0 (R > V) raises its log-prob and its value; step 1 (R < V) is left alone."""
    import tensorflow as tf

    loss = SelfImitationLoss(coefficient=1.0, value_coefficient=1.0)
    ComponentTest(loss, SPACES)
    log_probs = tf.Variable([-1.0, -1.0])
    values = tf.Variable([0.5, 2.0])
    returns = tf.constant([1.5, 1.0])
    with tf.GradientTape() as tape:
        parts = loss._graph_fn_loss(log_probs, values, returns)
    log_prob_gradient, value_gradient = (g.numpy() for g in tape.gradient(parts["total_loss"], [log_probs, values]))
    assert log_prob_gradient.tolist() == pytest.approx([-0.5, 0.0])  # d/dlogp of -mean(1[R>V] logp)
    assert value_gradient.tolist() == pytest.approx([-0.5, 0.0])     # d/dV of 0.5 mean(relu(R-V)^2) = -(R-V)/2
    assert float(parts["imitated_fraction"]) == 0.5


def test_mismatched_spaces_are_refused_at_trace_time():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(SelfImitationLoss(), dict(SPACES, returns=FloatBox((), batch_rank=True, time_rank=True)))
    assert caught.value.argument == "returns"
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(SelfImitationLoss(), dict(SPACES, values=IntBox(3, batch_rank=True)))
    assert caught.value.argument == "values"


@pytest.mark.parametrize("arguments, key", [
    ({"coefficient": -1.0}, "self_imitation.coefficient"),
    ({"coefficient": float("inf")}, "self_imitation.coefficient"),
    ({"value_coefficient": "half"}, "self_imitation.value_coefficient"),
    ({"value_coefficient": True}, "self_imitation.value_coefficient"),
])
def test_bad_arguments_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        SelfImitationLoss(key_path="self_imitation", **arguments)
    assert caught.value.key_path == key
