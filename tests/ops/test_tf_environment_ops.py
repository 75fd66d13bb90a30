"""XflowObserve / XflowApply equal the pybind11 environment, and a whole
rollout runs inside one tf.function."""
import numpy as np
import pytest

from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.graphs import load, substitutions, zoo
from rlgraph_xflow.ops import _engine, tf_ops
from rlgraph_xflow.tf_runtime import load_tensorflow

tf = load_tensorflow()
STEPS = 6


@pytest.fixture(scope="module")
def graph():
    return load(zoo.build("squeezenet1_1"))


@pytest.fixture(scope="module")
def rules():
    return substitutions.load_rules()


def test_observe_equals_the_engine(graph, rules):
    expected = _engine.observe_graph(rules, graph.engine, "h100", 200)
    observed = tf_ops.xflow_observe(tf.constant(graph.to_bytes()))
    for field in ("nodes", "edges", "senders", "receivers", "xfer_tuples", "location_masks", "xfer_mask"):
        np.testing.assert_array_equal(observed[field].numpy(), expected[field], err_msg=field)
    np.testing.assert_array_equal(observed["globals"].numpy()[0], expected["globals"])
    assert observed["n_node"].numpy().tolist() == [graph.engine.num_ops]
    assert observed["runtime_ms"].numpy() == pytest.approx(graph.cost(device="h100").runtime_ms, rel=1e-12)


def test_apply_equals_the_engine_and_refuses_invalid_pairs(graph, rules):
    counts = substitutions.locations(graph, rules).counts
    xfer = int(np.flatnonzero(counts)[0])
    new_graph, valid, runtime, *_ = tf_ops.xflow_apply(tf.constant(graph.to_bytes()), xfer, 0)
    assert bool(valid.numpy())
    expected = substitutions.apply(graph, rules, xfer, 0)
    assert _engine.Graph.from_bytes(new_graph.numpy()).hash() == expected.hash()
    assert runtime.numpy() == pytest.approx(expected.cost(device="h100").runtime_ms, rel=1e-12)
    unchanged, valid, *_ = tf_ops.xflow_apply(tf.constant(graph.to_bytes()), xfer, int(counts[xfer]))
    assert not bool(valid.numpy()) and unchanged.numpy() == graph.to_bytes()
    unchanged, valid, *_ = tf_ops.xflow_apply(tf.constant(graph.to_bytes()), len(rules) + 5, 0)
    assert not bool(valid.numpy())


def test_bad_graph_bytes_are_a_clear_error(graph):
    with pytest.raises(tf.errors.InvalidArgumentError, match="XflowObserve: "):
        tf_ops.xflow_observe(tf.constant(graph.to_bytes()[:-3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="XflowObserve takes one graph"):
        tf_ops.xflow_observe(tf.constant([graph.to_bytes()]))


def _choose(location_masks, step):
    """The k-th valid (xfer, location), k a fixed function of the step; NO-OP when none."""
    valid = tf.where(location_masks)
    count = tf.shape(valid, out_type=tf.int64)[0]
    index = tf.math.floormod(tf.cast(step, tf.int64) * 7919 + 13, tf.maximum(count, 1))
    pair = tf.cast(tf.gather(valid, index), tf.int32)
    return tf.cond(count > 0, lambda: pair, lambda: tf.constant([-1, 0], tf.int32))


def test_rollout_inside_one_tf_function_equals_the_python_env(graph, rules):
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def rollout(initial):
        def body(step, current, runtimes):
            observation = tf_ops.xflow_observe(current)
            pair = _choose(observation["location_masks"], step)
            new_graph, valid, runtime, *_ = tf_ops.xflow_apply(current, pair[0], pair[1])
            return step + 1, new_graph, runtimes.write(step, runtime)

        _, final, runtimes = tf.while_loop(lambda step, *_: step < STEPS, body,
                                           (tf.constant(0), initial, tf.TensorArray(tf.float64, size=STEPS)))
        return final, runtimes.stack()

    final, runtimes = rollout(tf.constant(graph.to_bytes()))

    env = XflowEnv(graph=graph, rules=rules, max_steps=STEPS)
    observation, _ = env.reset()
    python_runtimes = []
    for step in range(STEPS):
        xfer, location = _choose(tf.constant(observation["location_masks"]), tf.constant(step)).numpy().tolist()
        observation, _, _, _, info = env.step((xfer, location))
        assert not info["invalid"]
        python_runtimes.append(info["runtime_ms"])
    np.testing.assert_allclose(runtimes.numpy(), python_runtimes, rtol=1e-12)
    assert _engine.Graph.from_bytes(final.numpy()).hash() == env.current_graph.hash()
    assert python_runtimes[-1] != pytest.approx(graph.cost(device="h100").runtime_ms), "the rollout must change the graph"
