"""Executor: build statistics, input checks, checkpoints, TensorBoard."""
import os

import numpy as np
import pytest

from rlgraph_xflow.components.layers import MLP
from rlgraph_xflow.core import Executor, FloatBox, SpaceError
from rlgraph_xflow.core.checkpoint import CheckpointError, save_variables


@pytest.fixture
def executor():
    return Executor(MLP([4, 3], scope="net"), {"inputs": FloatBox((5,), batch_rank=True)})


def test_build_statistics(executor):
    stats = executor.stats
    assert stats.variable_count == 4
    assert stats.parameter_count == 5 * 4 + 4 + 4 * 3 + 3
    assert stats.trace_seconds > 0 and stats.build_seconds > 0
    assert list(stats.function_seconds) == ["apply"]
    assert stats.variable_seconds > 0 and stats.function_seconds["apply"] > 0
    assert stats.variable_seconds + sum(stats.function_seconds.values()) <= stats.build_seconds


def test_execute_returns_numpy_and_checks_inputs(executor):
    out = executor.execute("apply", np.ones((2, 5), np.float32))
    assert isinstance(out, np.ndarray) and out.shape == (2, 3)
    with pytest.raises(SpaceError, match=r"API 'apply', argument 'inputs'.*expected trailing shape \(5,\)"):
        executor.execute("apply", np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="has no built API 'predict'"):
        executor.execute("predict", np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"takes \['inputs'\]"):
        executor.execute("apply", np.ones((2, 5), np.float32), np.ones(1))


def test_checkpoint_round_trip_restores_outputs(executor, tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    before = executor.execute("apply", x)
    path = executor.save(tmp_path / "ckpt.npz")
    assert os.listdir(tmp_path) == ["ckpt.npz"], "no temporary file may be left behind"
    for variable in executor.root.variables_recursive().values():
        variable.assign(np.zeros(variable.shape, np.float32))
    assert not np.allclose(executor.execute("apply", x), before)
    executor.restore(path)
    np.testing.assert_array_equal(executor.execute("apply", x), before)


def test_checkpoint_write_is_atomic(executor, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    executor.save(path)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        executor.save(path)
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


def test_restore_refuses_a_checkpoint_that_does_not_match(executor, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        executor.restore(tmp_path / "missing.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        executor.restore(tmp_path / "garbage.npz")
    save_variables({"net/dense_0/kernel": np.zeros((5, 4), np.float32)}, tmp_path / "partial.npz")
    with pytest.raises(CheckpointError, match=r"missing \['net/dense_0/bias'"):
        executor.restore(tmp_path / "partial.npz")
    values = executor.variable_values()
    values["net/dense_1/bias"] = np.zeros(7, np.float32)
    save_variables(values, tmp_path / "shape.npz")
    with pytest.raises(CheckpointError, match=r"'net/dense_1/bias' has shape \(7,\), the graph expects \(3,\)"):
        executor.restore(tmp_path / "shape.npz")


def test_tensorboard_graph_is_written(executor, tmp_path):
    from tensorflow.core.util import event_pb2
    import tensorflow as tf

    executor.write_tensorboard_graph(str(tmp_path / "tb"))
    files = os.listdir(tmp_path / "tb")
    assert len(files) == 1 and files[0].startswith("events.out.tfevents")
    graphs = []
    for record in tf.data.TFRecordDataset(str(tmp_path / "tb" / files[0])):
        event = event_pb2.Event.FromString(record.numpy())
        if event.graph_def:
            graphs.append(event.graph_def)
    assert len(graphs) == 1
    graph_def = tf.compat.v1.GraphDef.FromString(graphs[0])
    assert any(node.op == "MatMul" or "Tensordot" in node.name for node in graph_def.node)


def test_summary_lists_tree_apis_and_timings(executor):
    text = executor.summary()
    assert "net (MLP)" in text and "dense_1 (Dense): 2 variables, 15 parameters" in text
    assert "apply(inputs: FloatBox(shape=(5,), ranks=[batch])) -> FloatBox(shape=(3,), ranks=[batch])" in text
    assert "Trace:" in text and "Build:" in text
    assert f"apply {executor.stats.function_seconds['apply']:.3f} s" in text
