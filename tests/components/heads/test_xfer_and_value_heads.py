"""XferPolicyHead and ValueHead against numpy; masking; bad inputs."""
import numpy as np
import pytest

from rlgraph_xflow.components.heads import MASKED_LOGIT, ValueHead, XferPolicyHead
from rlgraph_xflow.core import BoolBox, ComponentTest, FloatBox, SpaceError, SpaceMismatchError, SpecError

from tests.components.numpy_reference import dense

LATENT = FloatBox((6,), batch_rank=True)


@pytest.fixture(scope="module")
def xfer_head_test():
    return ComponentTest(XferPolicyHead(4, hidden_layers=[5], seed=2), {"z": LATENT, "xfer_mask": BoolBox((5,), batch_rank=True)})


def test_xfer_logits_match_numpy_and_masked_entries_are_large_negative(xfer_head_test):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((7, 6)).astype(np.float32)
    mask = rng.random((7, 5)) < 0.5
    mask[:, -1] = True
    values = xfer_head_test.read_variable_values()
    hidden = dense(z, values["xfer_policy_head/hidden/dense_0/kernel"], values["xfer_policy_head/hidden/dense_0/bias"], "relu")
    logits = dense(hidden, values["xfer_policy_head/logits/kernel"], values["xfer_policy_head/logits/bias"])
    expected = np.where(mask, logits, MASKED_LOGIT)
    outputs = xfer_head_test.test(("logits", (z, mask)), expected_outputs=expected, decimals=4)
    assert np.all(np.isfinite(outputs)), "masking must not produce -inf"
    assert np.all(outputs[~mask] == np.float32(MASKED_LOGIT))


def test_xfer_mask_of_the_wrong_width_is_refused_at_trace_time():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(XferPolicyHead(4), {"z": LATENT, "xfer_mask": BoolBox((4,), batch_rank=True)})
    assert caught.value.argument == "xfer_mask" and "(5,)" in str(caught.value)


def test_a_latent_with_a_time_rank_is_refused_at_trace_time():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(XferPolicyHead(4), {"z": FloatBox((6,), batch_rank=True, time_rank=True),
                                          "xfer_mask": BoolBox((5,), batch_rank=True)})
    assert caught.value.argument == "z"


def test_xfer_mask_values_are_checked_at_run_time(xfer_head_test):
    with pytest.raises(SpaceError, match="argument 'xfer_mask'"):
        xfer_head_test.test(("logits", (np.zeros((2, 6), np.float32), np.ones((2, 5), np.int32))))


@pytest.mark.parametrize("arguments, key", [
    ({"num_xfers": 0}, "head.num_xfers"),
    ({"num_xfers": 3, "hidden_layers": [4, 0]}, "head.hidden_layers"),
    ({"num_xfers": 3, "hidden_layers": [4], "activation": "rlu"}, "head.activation"),
])
def test_bad_xfer_head_arguments_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        XferPolicyHead(key_path="head", **arguments)
    assert caught.value.key_path == key


def test_value_head_matches_numpy():
    head = ValueHead(hidden_layers=[4], activation="tanh", seed=1)
    test = ComponentTest(head, {"z": LATENT})
    values = test.read_variable_values()
    z = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    hidden = dense(z, values["value_head/hidden/dense_0/kernel"], values["value_head/hidden/dense_0/bias"], "tanh")
    expected = dense(hidden, values["value_head/output/kernel"], values["value_head/output/bias"])[:, 0]
    outputs = test.test(("value", z), expected_outputs=expected, decimals=5)
    assert outputs.shape == (5,)


def test_value_head_refuses_a_latent_with_a_time_rank():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(ValueHead(), {"z": FloatBox((6,), batch_rank=True, time_rank=True)})
    assert caught.value.argument == "z"


def test_bad_value_head_arguments_name_the_key():
    with pytest.raises(SpecError) as caught:
        ValueHead(hidden_layers="64", key_path="value")
    assert caught.value.key_path == "value.hidden_layers"
