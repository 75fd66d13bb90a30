"""Policy = network then head, composed from specs."""
import numpy as np

import rlgraph_xflow.components  # noqa: F401
from rlgraph_xflow.core import ComponentTest, FloatBox, IntBox, from_spec

from tests.components.numpy_reference import dense, log_softmax


def test_policy_log_prob_equals_numpy_composition():
    policy = from_spec({"type": "policy", "network": {"type": "mlp", "layers": [6]},
                        "head": {"type": "categorical_head", "num_actions": 3}})
    test = ComponentTest(policy, {"observations": FloatBox((4,), batch_rank=True), "actions": IntBox(3, batch_rank=True)})
    values = test.read_variable_values()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    hidden = dense(x, values["policy/network/dense_0/kernel"], values["policy/network/dense_0/bias"], "relu")
    logits = dense(hidden, values["policy/head/logits/kernel"], values["policy/head/logits/bias"])
    actions = np.array([0, 1, 2, 1, 0])
    test.test(("get_log_prob", (x, actions)), expected_outputs=log_softmax(logits)[np.arange(5), actions], decimals=5)
    test.test(("get_greedy_action", x), expected_outputs=logits.argmax(-1))
    assert set(test.test(("get_action", x))) <= {0, 1, 2}
