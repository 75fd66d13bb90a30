"""GAE against a loop-by-loop numpy twin, in both time layouts; bad inputs."""
import numpy as np
import pytest

from rlgraph_xflow.components.losses import GeneralizedAdvantageEstimation
from rlgraph_xflow.core import BoolBox, ComponentTest, FloatBox, SpaceMismatchError, SpecError

from tests.components.numpy_reference import generalized_advantage_estimation


def _spaces(time_major=False):
    step = {"batch_rank": True, "time_rank": True, "time_major": time_major}
    return {"rewards": FloatBox((), **step), "values": FloatBox((), **step), "dones": BoolBox((), **step),
            "bootstrap_values": FloatBox((), batch_rank=True)}


def _rollout(seed, batch=3, steps=7):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, steps)).astype(np.float32), rng.standard_normal((batch, steps)).astype(np.float32),
            rng.random((batch, steps)) < 0.25, rng.standard_normal(batch).astype(np.float32))


def test_defaults_are_the_dissertations():
    gae = GeneralizedAdvantageEstimation()
    assert (gae.gamma, gae.gae_lambda) == (0.99, 0.97)


@pytest.mark.parametrize("gamma, gae_lambda", [(0.99, 0.97), (0.9, 0.0), (1.0, 1.0)])
def test_batch_major_matches_numpy(gamma, gae_lambda):
    test = ComponentTest(GeneralizedAdvantageEstimation(gamma, gae_lambda), _spaces())
    rewards, values, dones, bootstrap = _rollout(0)
    dones[0, 3] = True
    expected = generalized_advantage_estimation(rewards, values, dones, bootstrap, gamma, gae_lambda)
    test.test(("advantages_and_returns", (rewards, values, dones, bootstrap)), expected_outputs=expected, decimals=4)


def test_time_major_matches_numpy():
    test = ComponentTest(GeneralizedAdvantageEstimation(), _spaces(time_major=True))
    rewards, values, dones, bootstrap = _rollout(1)
    advantages, returns = generalized_advantage_estimation(rewards, values, dones, bootstrap, 0.99, 0.97)
    test.test(("advantages_and_returns", (rewards.T, values.T, dones.T, bootstrap)), expected_outputs=(advantages.T, returns.T), decimals=4)


def test_hand_computed_two_step_episode():
    """r = [1, 2], V = [0.5, 0.25], episode ends at the second step: A_1 = 2 - 0.25, A_0 = 1 + g*0.25 - 0.5 + g*l*A_1."""
    test = ComponentTest(GeneralizedAdvantageEstimation(0.5, 0.5), _spaces())
    advantages, returns = test.test(("advantages_and_returns", (np.array([[1.0, 2.0]], np.float32), np.array([[0.5, 0.25]], np.float32),
                                                                np.array([[False, True]]), np.array([100.0], np.float32))))
    second = 2.0 - 0.25
    first = 1.0 + 0.5 * 0.25 - 0.5 + 0.25 * second
    np.testing.assert_allclose(advantages, [[first, second]], rtol=1e-6)
    np.testing.assert_allclose(returns, [[first + 0.5, second + 0.25]], rtol=1e-6)


def test_dones_must_be_boolean_sequences():
    spaces = dict(_spaces(), dones=FloatBox((), batch_rank=True, time_rank=True))
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(GeneralizedAdvantageEstimation(), spaces)
    assert caught.value.argument == "dones"


def test_mixed_time_layouts_are_refused():
    spaces = dict(_spaces(), values=FloatBox((), batch_rank=True, time_rank=True, time_major=True))
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(GeneralizedAdvantageEstimation(), spaces)
    assert caught.value.argument == "values"


@pytest.mark.parametrize("arguments, key", [({"gamma": 1.5}, "gae.gamma"), ({"gae_lambda": "high"}, "gae.gae_lambda")])
def test_bad_arguments_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        GeneralizedAdvantageEstimation(key_path="gae", **arguments)
    assert caught.value.key_path == key
