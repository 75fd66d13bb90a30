"""The TF custom ops equal the pybind11 engine, eagerly and in tf.function."""
import numpy as np
import pytest

from rlgraph_xflow.graphs import load, zoo
from rlgraph_xflow.ops import tf_ops
from rlgraph_xflow.tf_runtime import load_tensorflow

tf = load_tensorflow()


@pytest.fixture(scope="module")
def graphs():
    return [load(zoo.build(name)) for name in ("squeezenet1_1", "resnet18")]


@pytest.mark.parametrize("device", ["h100", "cpu"])
def test_xflow_cost_equals_the_engine(graphs, device):
    runtime, flops, memory, launches = tf_ops.xflow_cost(tf.constant([g.to_bytes() for g in graphs]), device=device)
    for index, graph in enumerate(graphs):
        expected = graph.cost(provider="analytic", device=device)
        assert runtime.numpy()[index] == pytest.approx(expected.runtime_ms, rel=1e-12)
        assert flops.numpy()[index] == expected.flops
        assert memory.numpy()[index] == expected.mem_access_bytes
        assert launches.numpy()[index] == expected.kernel_launches


def test_xflow_cost_inside_tf_function_keeps_the_input_shape(graphs):
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string)])
    def price(batch):
        return tf_ops.xflow_cost(batch, device="v100")

    batch = np.array([[graphs[0].to_bytes(), graphs[1].to_bytes()]], dtype=object)
    runtime, _, _, launches = price(batch)
    assert runtime.shape == (1, 2) and launches.dtype == tf.int64
    assert runtime.numpy()[0, 1] == pytest.approx(graphs[1].cost(device="v100").runtime_ms, rel=1e-12)


def test_corrupt_bytes_and_unknown_device_are_clear_errors(graphs):
    truncated = graphs[0].to_bytes()[:-5]
    with pytest.raises(tf.errors.InvalidArgumentError, match="XflowCost, graph 1: "):
        tf_ops.xflow_cost(tf.constant([graphs[0].to_bytes(), truncated]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="tpu9"):
        tf_ops.xflow_cost(tf.constant([graphs[0].to_bytes()]), device="tpu9")
