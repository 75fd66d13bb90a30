"""CategoricalHead against numpy: logits, log-probs, entropy, sampling."""
import numpy as np
import pytest

from rlgraph_xflow.components.heads import CategoricalHead
from rlgraph_xflow.core import ComponentTest, FloatBox, IntBox, SpaceMismatchError

from tests.components.numpy_reference import dense, log_softmax

SPACES = {"inputs": FloatBox((4,), batch_rank=True), "actions": IntBox(5, batch_rank=True)}


@pytest.fixture
def head_test():
    head = CategoricalHead(5, seed=3)
    test = ComponentTest(head, SPACES)
    head.logits_layer.bias.assign(np.linspace(-1, 1, 5).astype(np.float32))
    return test


def _logits(test, x):
    values = test.read_variable_values()
    return dense(x, values["categorical_head/logits/kernel"], values["categorical_head/logits/bias"])


def test_log_prob_entropy_and_greedy_match_numpy(head_test):
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    actions = np.arange(8) % 5
    log_probs = log_softmax(_logits(head_test, x))
    head_test.test(("log_prob", (x, actions)), expected_outputs=log_probs[np.arange(8), actions], decimals=5)
    head_test.test(("entropy", x), expected_outputs=-(np.exp(log_probs) * log_probs).sum(-1), decimals=5)
    head_test.test(("greedy_action", x), expected_outputs=log_probs.argmax(-1))


def test_samples_follow_the_softmax(head_test):
    x = np.tile(np.random.default_rng(1).standard_normal((1, 4)).astype(np.float32), (20000, 1))
    samples = head_test.test(("sample_action", x))
    probabilities = np.exp(log_softmax(_logits(head_test, x[:1])))[0]
    frequencies = np.bincount(samples, minlength=5) / len(samples)
    # 20000 draws: the standard error of each frequency is below 0.0036.
    np.testing.assert_allclose(frequencies, probabilities, atol=0.015)


def test_sampling_is_reproducible_and_checkpointed(head_test, tmp_path):
    x = np.zeros((50, 4), np.float32)
    path = head_test.executor.save(tmp_path / "head.npz")
    first = head_test.test(("sample_action", x))
    second = head_test.test(("sample_action", x))
    assert not np.array_equal(first, second), "the sampler state must advance"
    head_test.executor.restore(path)
    np.testing.assert_array_equal(head_test.test(("sample_action", x)), first)


def test_action_space_mismatch_is_caught_at_trace_time():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(CategoricalHead(5), {"inputs": FloatBox((4,), batch_rank=True), "actions": IntBox(5, shape=(2,), batch_rank=True)})
    assert caught.value.api == "log_prob" and caught.value.argument == "actions"
