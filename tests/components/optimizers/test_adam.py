"""Adam inside a built API: steps against numpy, clipping, convergence, targets, the polynomial learning-rate decay."""
import math
import os

import numpy as np
import pytest

from rlgraph_xflow.components.optimizers import Adam
from rlgraph_xflow.components.optimizers.learning_rate import PolynomialDecay
from rlgraph_xflow.config import load_config
from rlgraph_xflow.core import Component, ComponentTest, FloatBox, SpaceMismatchError, SpecError, api, from_spec, graph_fn

from tests.components.numpy_reference import adam_step, polynomial_decay

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class _Quadratic(Component):
    """Test model: loss(x, y) = sum(w * (x - target)^2) + sum(y^2); `frozen` is never in the loss."""

    def __init__(self, scope="quadratic"):
        super().__init__(scope=scope)

    def create_variables(self, input_spaces):
        self.x = self.get_variable("x", (3,), initializer=lambda s, d: np.array([1.0, -2.0, 0.5], d))
        self.y = self.get_variable("y", (2, 2), initializer=lambda s, d: np.full(s, 0.3, d))
        self.frozen = self.get_variable("frozen", (2,), initializer=lambda s, d: np.ones(s, d))

    @api
    def loss(self, target):
        return self._graph_fn_loss(target)

    @graph_fn
    def _graph_fn_loss(self, target):
        import tensorflow as tf

        weights = tf.constant([1.0, 4.0, 0.25])
        return tf.reduce_sum(weights * tf.square(self.x - target)) + tf.reduce_sum(tf.square(self.y))

    @_graph_fn_loss.output_spaces
    def _graph_fn_loss(self, target):
        return FloatBox(())


class _Trainer(Component):
    """Root: a model and an Adam over it; `minimise` runs loss and step in one API."""

    def __init__(self, optimizer_first=False, targets=None, **adam_arguments):
        super().__init__(scope="trainer")
        self.model = _Quadratic()
        self.other = _Quadratic(scope="other")
        self.optimizer = Adam(targets=targets if targets is not None else [self.model], **adam_arguments)
        order = (self.optimizer, self.model, self.other) if optimizer_first else (self.model, self.other, self.optimizer)
        self.add_components(*order)

    @api
    def minimise(self, target):
        loss = self.model.loss(target)
        return loss, self.optimizer.step(loss)


SPACES = {"target": FloatBox((3,))}
TARGET = np.array([0.0, 1.0, 2.0], np.float32)


def _gradients(x, y, target):
    return [2 * np.array([1.0, 4.0, 0.25]) * (x - target), 2 * y]


@pytest.mark.parametrize("optimizer_first", [False, True])
@pytest.mark.parametrize("max_gradient_norm", [None, 1.0])
def test_two_steps_equal_numpy_adam(optimizer_first, max_gradient_norm):
    trainer = _Trainer(optimizer_first=optimizer_first, learning_rate=0.1, max_gradient_norm=max_gradient_norm)
    test = ComponentTest(trainer, SPACES)
    parameters = [trainer.model.x.numpy().astype(np.float64), trainer.model.y.numpy().astype(np.float64)]
    first = [np.zeros(3), np.zeros((2, 2))]
    second = [np.zeros(3), np.zeros((2, 2))]
    for step in (1, 2):
        gradients = _gradients(parameters[0], parameters[1], TARGET)
        parameters, first, second, norm = adam_step(parameters, gradients, first, second, step, 0.1, 0.9, 0.999, 1e-8, max_gradient_norm)
        _, reported_norm = test.test(("minimise", TARGET))
        assert reported_norm == pytest.approx(norm, rel=1e-5)
        np.testing.assert_allclose(trainer.model.x.numpy(), parameters[0], rtol=1e-5)
        np.testing.assert_allclose(trainer.model.y.numpy(), parameters[1], rtol=1e-5)
        np.testing.assert_allclose(test.read_variable_values("trainer/adam/first_moment/trainer/quadratic/x"), first[0], rtol=1e-5)
        np.testing.assert_allclose(test.read_variable_values("trainer/adam/second_moment/trainer/quadratic/y"), second[1], rtol=1e-5)
    assert test.read_variable_values("trainer/adam/step_count") == 2


def test_clipping_scales_the_gradients_to_the_max_norm():
    trainer = _Trainer(learning_rate=0.1, max_gradient_norm=0.5)
    test = ComponentTest(trainer, SPACES)
    gradients = _gradients(trainer.model.x.numpy(), trainer.model.y.numpy(), TARGET)
    norm = np.sqrt(sum(np.sum(g ** 2) for g in gradients))
    assert norm > 0.5
    _, reported = test.test(("minimise", TARGET))
    assert reported == pytest.approx(norm, rel=1e-5)
    # After one step the first moment is (1 - beta1) * clipped gradient.
    clipped = [g * 0.5 / norm for g in gradients]
    moments = test.read_variable_values("trainer/adam/first_moment/trainer/quadratic/x", "trainer/adam/first_moment/trainer/quadratic/y")
    np.testing.assert_allclose(moments[0], 0.1 * clipped[0], rtol=1e-5)
    np.testing.assert_allclose(moments[1], 0.1 * clipped[1], rtol=1e-5)
    assert np.sqrt(sum(np.sum((m / 0.1) ** 2) for m in moments)) == pytest.approx(0.5, rel=1e-5)


def test_repeated_steps_minimise_a_convex_loss():
    trainer = _Trainer(learning_rate=0.05, max_gradient_norm=None)
    test = ComponentTest(trainer, SPACES)
    losses = [float(test.test(("minimise", TARGET))[0]) for _ in range(400)]
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(trainer.model.x.numpy(), TARGET, atol=0.02)


def test_only_target_variables_used_by_the_loss_change():
    trainer = _Trainer(learning_rate=0.1, targets=[])
    trainer.optimizer.targets = ["quadratic", "trainer/other"]     # scope paths, resolved at build
    test = ComponentTest(trainer, SPACES)
    before = test.read_variable_values()
    test.test(("minimise", TARGET))
    after = test.read_variable_values()
    assert not np.allclose(before["trainer/quadratic/x"], after["trainer/quadratic/x"])
    for name in ("trainer/quadratic/frozen", "trainer/other/x", "trainer/other/y", "trainer/other/frozen"):
        np.testing.assert_array_equal(before[name], after[name])
    assert "trainer/adam/first_moment/trainer/other/x" in after   # slots exist for every target variable


def test_an_unknown_target_scope_is_a_spec_error():
    trainer = _Trainer(targets=["quadratc"])
    with pytest.raises(SpecError, match=r"no component at scope 'quadratc'.*trainer/quadratic"):
        ComponentTest(trainer, SPACES)


def test_a_target_outside_the_tree_is_a_spec_error():
    trainer = _Trainer(targets=[_Quadratic(scope="stray")])
    with pytest.raises(SpecError, match="'stray' is not in the optimiser's component tree"):
        ComponentTest(trainer, SPACES)


def test_no_targets_is_a_spec_error():
    with pytest.raises(SpecError, match="no trainable variables"):
        ComponentTest(_Trainer(targets=[]), SPACES)


def test_a_non_scalar_loss_is_refused_at_trace_time():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(Adam(), {"loss": FloatBox((), batch_rank=True)})
    assert caught.value.argument == "loss"


@pytest.mark.parametrize("arguments, key", [
    ({"learning_rate": 0.0}, "adam.learning_rate"),
    ({"beta1": 1.0}, "adam.beta1"),
    ({"max_gradient_norm": -1.0}, "adam.max_gradient_norm"),
    ({"targets": "encoder"}, "adam.targets"),
])
def test_bad_arguments_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        Adam(key_path="adam", **arguments)
    assert caught.value.key_path == key


def test_default_learning_rate_is_the_dissertations():
    assert Adam().learning_rate == 2.5e-3


def test_a_constant_rate_stays_a_float():
    optimizer = Adam(learning_rate=1)
    assert type(optimizer.learning_rate) is float and optimizer.learning_rate == 1.0


# Rates 0.09 * (1 - t / 3) ** 2 + 0.01: 0.1, 0.05, 0.02, then 0.01 from the fourth update on.
DECAY = {"type": "polynomial", "initial": 0.1, "end": 0.01, "decay_steps": 3, "power": 2}


def test_the_numpy_decay_has_the_hand_computed_rates():
    rates = [polynomial_decay(done, 0.1, 0.01, 3, 2) for done in range(6)]
    np.testing.assert_allclose(rates, [0.1, 0.05, 0.02, 0.01, 0.01, 0.01], rtol=1e-12)


@pytest.mark.parametrize("max_gradient_norm", [None, 1.0])
def test_polynomial_decay_equals_numpy_adam_at_the_decayed_rate_through_and_after_decay_steps(max_gradient_norm):
    trainer = _Trainer(learning_rate=dict(DECAY), max_gradient_norm=max_gradient_norm)
    assert trainer.optimizer.learning_rate == PolynomialDecay(initial=0.1, end=0.01, decay_steps=3, power=2.0)
    test = ComponentTest(trainer, SPACES)
    parameters = [trainer.model.x.numpy().astype(np.float64), trainer.model.y.numpy().astype(np.float64)]
    first = [np.zeros(3), np.zeros((2, 2))]
    second = [np.zeros(3), np.zeros((2, 2))]
    for step in range(1, 7):
        rate = polynomial_decay(step - 1, 0.1, 0.01, 3, 2)
        gradients = _gradients(parameters[0], parameters[1], TARGET)
        parameters, first, second, _ = adam_step(parameters, gradients, first, second, step, rate, 0.9, 0.999, 1e-8, max_gradient_norm)
        test.test(("minimise", TARGET))
        np.testing.assert_allclose(trainer.model.x.numpy(), parameters[0], rtol=1e-5, err_msg=f"update {step}")
        np.testing.assert_allclose(trainer.model.y.numpy(), parameters[1], rtol=1e-5, err_msg=f"update {step}")
    assert test.read_variable_values("trainer/adam/step_count") == 6


def test_a_restored_optimizer_continues_the_decay_where_its_checkpoint_stopped(tmp_path):
    uninterrupted = ComponentTest(_Trainer(learning_rate=dict(DECAY)), SPACES)
    for _ in range(5):
        uninterrupted.test(("minimise", TARGET))
    interrupted = ComponentTest(_Trainer(learning_rate=dict(DECAY)), SPACES)
    for _ in range(2):
        interrupted.test(("minimise", TARGET))
    path = interrupted.executor.save(tmp_path / "checkpoint.npz")
    resumed = ComponentTest(_Trainer(learning_rate=dict(DECAY)), SPACES)
    resumed.executor.restore(path)
    for _ in range(3):
        resumed.test(("minimise", TARGET))
    expected, found = uninterrupted.read_variable_values(), resumed.read_variable_values()
    assert sorted(found) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(found[name], expected[name], rtol=1e-6, err_msg=name)


def _schedule(**changes):
    """DECAY with keys changed (a value of None removes the key)."""
    schedule = {**DECAY, **changes}
    return {key: value for key, value in schedule.items() if value is not None}


@pytest.mark.parametrize("learning_rate, key, message", [
    (-1e-3, "adam.learning_rate", "expected a finite number > 0, or a schedule"),
    (math.inf, "adam.learning_rate", "expected a finite number > 0, or a schedule"),
    ("1e-3", "adam.learning_rate", "got str '1e-3'"),
    (_schedule(type=None), "adam.learning_rate.type", "needs a 'type' (one of: polynomial)"),
    (_schedule(type="polynomal"), "adam.learning_rate.type", "unknown learning-rate schedule 'polynomal' (did you mean 'polynomial'?)"),
    (_schedule(cycle=True), "adam.learning_rate.cycle", "unknown key; a polynomial schedule takes: initial, end, decay_steps, power"),
    (_schedule(decay_steps=None, decay_step=3), "adam.learning_rate.decay_step", "did you mean 'decay_steps'"),
    (_schedule(end=None), "adam.learning_rate.end", "missing: a polynomial schedule needs initial, end, decay_steps"),
    (_schedule(initial=-0.1), "adam.learning_rate.initial", "expected a finite number > 0, got -0.1"),
    (_schedule(initial=True), "adam.learning_rate.initial", "got True"),
    (_schedule(end=-0.01), "adam.learning_rate.end", "expected a finite number >= 0, got -0.01"),
    (_schedule(end=0.2), "adam.learning_rate.end", "expected at most initial (0.1)"),
    (_schedule(decay_steps=0), "adam.learning_rate.decay_steps", "expected a positive int, got 0"),
    (_schedule(decay_steps=2.5), "adam.learning_rate.decay_steps", "expected a positive int, got 2.5"),
    (_schedule(power=0), "adam.learning_rate.power", "expected a finite number > 0, got 0"),
    (_schedule(power=-2), "adam.learning_rate.power", "expected a finite number > 0, got -2"),
])
def test_a_bad_learning_rate_names_its_key_path(learning_rate, key, message):
    with pytest.raises(SpecError) as caught:
        Adam(key_path="adam", learning_rate=learning_rate)
    assert caught.value.key_path == key and message in caught.value.message


def test_power_defaults_to_linear_and_end_may_be_zero():
    assert Adam(learning_rate=_schedule(power=None, end=0)).learning_rate == PolynomialDecay(0.1, 0.0, 3, 1.0)


def test_a_schedule_flows_from_yaml_and_overrides_into_the_optimizer():
    path = os.path.join(ROOT, "configs", "world_model_quickstart.yaml")
    schedule = "agent.world_model_optimizer.learning_rate={type: polynomial, initial: 1.0e-3, end: 1.0e-5, decay_steps: 2000, power: 2}"
    config = load_config(path, [schedule, "agent.world_model_optimizer.learning_rate.decay_steps=500"])
    optimizer = from_spec(config["agent.world_model_optimizer"], "agent.world_model_optimizer")
    assert optimizer.learning_rate == PolynomialDecay(initial=1e-3, end=1e-5, decay_steps=500, power=2.0)
    config = load_config(path, [schedule, "agent.world_model_optimizer.learning_rate.end=0.01"])
    with pytest.raises(SpecError) as caught:
        from_spec(config["agent.world_model_optimizer"], "agent.world_model_optimizer")
    assert caught.value.key_path == "agent.world_model_optimizer.learning_rate.end"
    config = load_config(path, ["agent.world_model_optimizer.learning_rate=2.0e-4"])
    assert from_spec(config["agent.world_model_optimizer"], "agent.world_model_optimizer").learning_rate == 2e-4
