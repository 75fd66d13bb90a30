"""Dense and MLP against numpy."""
import numpy as np
import pytest

from rlgraph_xflow.components.layers import MLP, Dense
from rlgraph_xflow.core import ComponentTest, FloatBox, SpecError

from tests.components.numpy_reference import dense


@pytest.mark.parametrize("activation", ["relu", "tanh", None])
def test_dense_matches_numpy(activation):
    layer = Dense(4, activation=activation)
    test = ComponentTest(layer, {"inputs": FloatBox((3,), batch_rank=True)})
    layer.bias.assign(np.array([0.5, -0.5, 0.25, 0.0], np.float32))
    kernel, bias = test.read_variable_values("dense/kernel", "dense/bias")
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    test.test(("apply", x), expected_outputs=dense(x, kernel, bias, activation), decimals=5)


def test_dense_applies_over_the_last_axis_with_time_rank():
    layer = Dense(2, use_bias=False)
    test = ComponentTest(layer, {"inputs": FloatBox((3,), batch_rank=True, time_rank=True)})
    kernel = test.read_variable_values("dense/kernel")
    x = np.random.default_rng(2).standard_normal((4, 5, 3)).astype(np.float32)
    test.test(("apply", x), expected_outputs=x @ kernel, decimals=5)
    assert "dense/bias" not in test.read_variable_values()


def test_dense_initialisation_is_seeded():
    first = ComponentTest(Dense(3, seed=7), {"inputs": FloatBox((2,), batch_rank=True)}).read_variable_values("dense/kernel")
    again = ComponentTest(Dense(3, seed=7), {"inputs": FloatBox((2,), batch_rank=True)}).read_variable_values("dense/kernel")
    other = ComponentTest(Dense(3, seed=8), {"inputs": FloatBox((2,), batch_rank=True)}).read_variable_values("dense/kernel")
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    limit = np.sqrt(6.0 / (2 + 3))
    assert np.all(np.abs(first) <= limit)


def test_mlp_matches_numpy_chain():
    mlp = MLP([5, 4, 2], activation="tanh", output_activation="linear")
    test = ComponentTest(mlp, {"inputs": FloatBox((3,), batch_rank=True)})
    values = test.read_variable_values()
    x = np.random.default_rng(3).standard_normal((7, 3)).astype(np.float32)
    hidden = dense(x, values["mlp/dense_0/kernel"], values["mlp/dense_0/bias"], "tanh")
    hidden = dense(hidden, values["mlp/dense_1/kernel"], values["mlp/dense_1/bias"], "tanh")
    expected = dense(hidden, values["mlp/dense_2/kernel"], values["mlp/dense_2/bias"], None)
    test.test(("apply", x), expected_outputs=expected, decimals=5)


@pytest.mark.parametrize("arguments, key", [
    ({"units": 0}, "layer.units"),
    ({"units": 2, "activation": "rleu"}, "layer.activation"),
])
def test_bad_dense_arguments_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        Dense(key_path="layer", **arguments)
    assert caught.value.key_path == key
    if "activation" in arguments:
        assert "did you mean 'relu'" in str(caught.value)


def test_mlp_needs_layers():
    with pytest.raises(SpecError, match="non-empty list"):
        MLP([], key_path="net")
