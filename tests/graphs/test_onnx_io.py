"""ONNX load/export: equal outputs in onnxruntime after a round trip, opaque
ops, node naming, symbolic dimensions, opset conversion, external data, the
XflowGraph API, and every bad input."""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from rlgraph_xflow.graphs import (
    CostError,
    OnnxExportError,
    OnnxLoadError,
    XflowGraph,
    export,
    load,
)

FLOAT = TensorProto.FLOAT
GENERATOR = np.random.default_rng(7)


def _weight(name, *shape, positive=False):
    values = GENERATOR.standard_normal(shape).astype(np.float32) * 0.3
    return numpy_helper.from_array(np.abs(values) + 0.5 if positive else values, name)


def _model(nodes, inputs, outputs, initializers=(), opset=17, ir_version=8):
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def _run(model, feeds):
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _assert_round_trip_equal(model, feeds, **load_options):
    graph = load(model, **load_options)
    exported = export(graph)
    onnx.checker.check_model(exported, full_check=True)
    expected, actual = _run(model, feeds), _run(exported, feeds)
    assert len(expected) == len(actual)
    for want, got in zip(expected, actual):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    return graph, exported


def _small_cnn():
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    initializers = [
        _weight("conv_w", 8, 3, 3, 3), _weight("conv_b", 8), _weight("bn_s", 8), _weight("bn_b", 8), _weight("bn_m", 8),
        _weight("bn_v", 8, positive=True), _weight("fc_w", 5, 8), _weight("fc_b", 5),
    ]
    inputs = [helper.make_tensor_value_info("x", FLOAT, ["batch", 3, 16, 16])]
    outputs = [helper.make_tensor_value_info("y", FLOAT, ["batch", 5])]
    return _model(nodes, inputs, outputs, initializers)


def _attention_block(sequence=6, hidden=8, heads=2):
    """Self-attention + residual + LayerNormalization + Erf-GELU, as BERT builds it (opset 17)."""
    head = hidden // heads

    def const(name, values):
        return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)

    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("MatMul", ["x", "wk"], ["k"]),
        helper.make_node("MatMul", ["x", "wv"], ["v"]),
        helper.make_node("Reshape", ["q", "heads_shape"], ["q4"]), helper.make_node("Reshape", ["k", "heads_shape"], ["k4"]),
        helper.make_node("Reshape", ["v", "heads_shape"], ["v4"]),
        helper.make_node("Transpose", ["q4"], ["qt"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["v4"], ["vt"], perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["qt", "kt"], ["scores"]), helper.make_node("Div", ["scores", "scale"], ["scaled"]),
        helper.make_node("Softmax", ["scaled"], ["probs"], axis=-1), helper.make_node("MatMul", ["probs", "vt"], ["ctx"]),
        helper.make_node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ctx_t", "merge_shape"], ["merged"]),
        helper.make_node("Add", ["merged", "x"], ["residual"]),
        helper.make_node("LayerNormalization", ["residual", "ln_s", "ln_b"], ["normed"], axis=-1, epsilon=1e-5),
        helper.make_node("Div", ["normed", "sqrt2"], ["half"]), helper.make_node("Erf", ["half"], ["erf"]),
        helper.make_node("Add", ["erf", "one"], ["erf1"]), helper.make_node("Mul", ["normed", "erf1"], ["gelu2"]),
        helper.make_node("Mul", ["gelu2", "onehalf"], ["y"]),
        helper.make_node("ReduceMean", ["y"], ["mean"], axes=[-1], keepdims=1),
    ]
    initializers = [
        _weight("wq", hidden, hidden), _weight("wk", hidden, hidden), _weight("wv", hidden, hidden),
        const("heads_shape", [0, 0, heads, head]), const("merge_shape", [0, 0, hidden]),
        numpy_helper.from_array(np.array(np.sqrt(head), np.float32), "scale"),
        _weight("ln_s", hidden), _weight("ln_b", hidden),
        numpy_helper.from_array(np.array(np.sqrt(2.0), np.float32), "sqrt2"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"), numpy_helper.from_array(np.array(0.5, np.float32), "onehalf"),
    ]
    inputs = [helper.make_tensor_value_info("x", FLOAT, ["batch", "seq", hidden])]
    outputs = [helper.make_tensor_value_info("y", FLOAT, None), helper.make_tensor_value_info("mean", FLOAT, None)]
    return _model(nodes, inputs, outputs, initializers)


# ------------------------------------------------------------------ round trips


def test_small_cnn_round_trips_with_equal_outputs():
    feeds = {"x": GENERATOR.standard_normal((2, 3, 16, 16)).astype(np.float32)}
    graph, exported = _assert_round_trip_equal(_small_cnn(), feeds, batch_size=2)
    assert graph.op_types == {"BatchNormalization": 1, "Conv": 1, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1,
                              "MaxPool": 1, "Relu": 1}
    assert graph.num_ops == 7
    assert graph.opaque_ops == []
    assert [(info.name, info.dtype, info.shape) for info in graph.inputs] == [("x", "float32", (2, 3, 16, 16))]
    assert [(info.name, info.shape) for info in graph.outputs] == [("y", (2, 5))]
    assert load(exported).hash() == graph.hash()


def test_attention_block_round_trips_with_equal_outputs():
    feeds = {"x": GENERATOR.standard_normal((1, 6, 8)).astype(np.float32)}
    graph, _ = _assert_round_trip_equal(_attention_block(), feeds, symbolic_dims={"seq": 6})
    assert graph.opaque_ops == []
    assert graph.op_types["MatMul"] == 5 and graph.op_types["LayerNormalization"] == 1


def test_unsupported_ops_are_carried_as_opaque_and_round_trip():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("LRN", ["c"], ["l"], name="lrn", size=3, alpha=2e-4, beta=0.75, bias=1.5),
        helper.make_node("Relu", ["l"], ["r"], name="relu"),
        helper.make_node("Einsum", ["r", "r"], ["e"], name="einsum", equation="nchw,nchw->nc"),
        helper.make_node("Add", ["e", "bias"], ["y"], name="add"),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 3, 6, 6])],
                   [helper.make_tensor_value_info("y", FLOAT, [1, 4])], [_weight("w", 4, 3, 3, 3), _weight("bias", 4)])
    feeds = {"x": GENERATOR.standard_normal((1, 3, 6, 6)).astype(np.float32)}
    graph, exported = _assert_round_trip_equal(model, feeds)
    assert [(op.name, op.op_type) for op in graph.opaque_ops] == [("lrn", "LRN"), ("einsum", "Einsum")]
    # The ops around them stay modelled, with shapes flowing through the opaque outputs.
    add = graph.engine.op(graph.engine.find_op("add"))
    assert add["type"] == "Add" and add["output_types"] == [("float32", [1, 4])]
    exported_lrn = next(node for node in exported.graph.node if node.name == "lrn")
    assert {attribute.name: helper.get_attribute_value(attribute) for attribute in exported_lrn.attribute} == pytest.approx(
        {"size": 3, "alpha": 2e-4, "beta": 0.75, "bias": 1.5})
    lrn_descriptor = next(d for d in graph.measurement_descriptors() if d["op_type"] == "LRN")
    assert lrn_descriptor["attributes"] == pytest.approx({"size": 3, "alpha": 2e-4, "beta": 0.75, "bias": 1.5})
    assert lrn_descriptor["input_shapes"] == [[1, 4, 6, 6]]


def test_shape_inputs_computed_at_run_time_make_the_op_opaque():
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Reshape", ["y_in", "s"], ["reshaped"], name="reshape"),
        helper.make_node("Relu", ["reshaped"], ["y"], name="relu"),
    ]
    inputs = [helper.make_tensor_value_info("x", FLOAT, [2, 6]), helper.make_tensor_value_info("y_in", FLOAT, [3, 4])]
    model = _model(nodes, inputs, [helper.make_tensor_value_info("y", FLOAT, [2, 6])])
    feeds = {"x": np.zeros((2, 6), np.float32), "y_in": GENERATOR.standard_normal((3, 4)).astype(np.float32)}
    graph, _ = _assert_round_trip_equal(model, feeds)
    assert [op.op_type for op in graph.opaque_ops] == ["Shape", "Reshape"]
    assert graph.op_types["Relu"] == 1


def test_constant_nodes_unnamed_nodes_and_outputs_round_trip():
    nodes = [
        helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Constant", [], ["two"], value_float=2.0),
        helper.make_node("Unsqueeze", ["x", "axes"], ["u"]),
        helper.make_node("Mul", ["u", "two"], ["m"]),
        helper.make_node("Relu", ["m"], ["y"], name="dup"),
        helper.make_node("Sigmoid", ["m"], ["z"], name="dup"),
    ]
    outputs = [helper.make_tensor_value_info(name, FLOAT, None) for name in ("y", "z", "x", "two")]
    model = _model(nodes, [helper.make_tensor_value_info("x", FLOAT, [3, 4])], outputs)
    x = GENERATOR.standard_normal((3, 4)).astype(np.float32)
    graph = load(model)
    exported = export(graph)
    onnx.checker.check_model(exported, full_check=True)
    # onnxruntime refuses the source model (two nodes named "dup"), so numpy is the reference.
    y, z, x_out, two = _run(exported, {"x": x})
    np.testing.assert_allclose(y, np.maximum(x[None] * 2, 0), rtol=1e-6)
    np.testing.assert_allclose(z, 1 / (1 + np.exp(-x[None] * 2)), rtol=1e-6)
    np.testing.assert_array_equal(x_out, x)
    assert two == np.float32(2.0)
    names = [op["name"] for op in graph.engine.ops()]
    assert names == ["x", "axes", "two", "Unsqueeze_2", "Mul_3", "dup", "dup_1"]
    assert [op["name"] for op in load(model).engine.ops()] == names, "generated names are stable"
    assert graph.engine.op(graph.engine.find_op("axes"))["params"] == {"int_values": [0]}


def test_external_data_inside_the_model_folder_loads(tmp_path):
    model = _small_cnn()
    saved = onnx.ModelProto()
    saved.CopyFrom(model)
    path = tmp_path / "model.onnx"
    onnx.save_model(saved, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=0)
    feeds = {"x": GENERATOR.standard_normal((1, 3, 16, 16)).astype(np.float32)}
    graph = load(path)
    np.testing.assert_allclose(_run(export(graph), feeds)[0], _run(model, feeds)[0], rtol=1e-5, atol=1e-6)
    assert graph.source == str(path)


def test_old_opset_is_converted():
    nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0]), helper.make_node("Relu", ["u"], ["y"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", FLOAT, [3])], [helper.make_tensor_value_info("y", FLOAT, None)],
                   opset=11, ir_version=6)
    feeds = {"x": np.array([-1.0, 0.5, 2.0], np.float32)}
    graph, exported = _assert_round_trip_equal(model, feeds)
    assert dict(graph.opset_imports)[""] == 17
    assert graph.opaque_ops == []


def test_symbolic_dimensions_are_bound():
    model = _attention_block()
    graph = load(model, batch_size=3, symbolic_dims={"seq": 5})
    assert graph.inputs[0].shape == (3, 5, 8)
    assert graph.outputs[1].shape == (3, 5, 1)
    assert load(model, symbolic_dims={"seq": 4, "batch": 2}).inputs[0].shape == (2, 4, 8)


# ------------------------------------------------------------------ XflowGraph API


class _TableProvider:
    """A cost provider double: answers every descriptor with a fixed runtime and records the calls."""

    def __init__(self, runtime_ms):
        self.runtime_ms = runtime_ms
        self.seen = []

    def costs(self, descriptors):
        self.seen.extend(descriptors)
        return {descriptor["cost_key"]: self.runtime_ms for descriptor in descriptors}


def test_cost_providers():
    graph = load(_small_cnn())
    analytic = graph.cost(device="v100")
    assert analytic.kernel_launches == 7 - 1  # Flatten is free
    assert analytic.runtime_ms == pytest.approx(sum(record.runtime_ms for record in analytic.ops))
    assert set(analytic.metrics()) == {"runtime_ms", "flops", "mem_access_bytes", "kernel_launches"}
    provider = _TableProvider(0.25)
    measured = graph.cost(provider=provider)
    assert len(provider.seen) == 6 and measured.runtime_ms == pytest.approx(6 * 0.25)
    table = {record.cost_key: 1.0 for record in analytic.ops}
    assert graph.cost(provider="table", cost_table=table).runtime_ms == pytest.approx(6.0)
    assert measured.flops == analytic.flops


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"provider": "magic"}, "unknown cost provider 'magic'"),
        ({"provider": 42}, "must be 'analytic', 'table' or have a .costs"),
        ({"provider": "table"}, "needs cost_table"),
        ({"provider": "table", "cost_table": {}}, "missing from the measured cost table"),
        ({"device": "gpu9000"}, "unknown device profile 'gpu9000'"),
    ],
)
def test_bad_cost_requests(kwargs, message):
    with pytest.raises(CostError, match=message):
        load(_small_cnn()).cost(**kwargs)


def test_serialized_engine_graph_matches():
    from rlgraph_xflow.ops import _engine

    graph = load(_attention_block(), symbolic_dims={"seq": 6})
    restored = _engine.Graph.from_bytes(graph.to_bytes())
    assert restored.hash() == graph.hash() and restored.ops() == graph.engine.ops()


# ------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    missing = tmp_path / "absent.onnx"
    with pytest.raises(OnnxLoadError, match=f"{missing}: file not found"):
        load(missing)


def test_directory_is_refused(tmp_path):
    with pytest.raises(OnnxLoadError, match="expected an ONNX model file"):
        load(tmp_path)


@pytest.mark.parametrize("content", [b"", b"this is plain text, not a model\n", b"\x08\x07" * 3])
def test_file_that_is_not_onnx(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(OnnxLoadError, match=f"{path}: not (a valid ONNX model|an ONNX model)"):
        load(path)


def test_truncated_file(tmp_path):
    data = _small_cnn().SerializeToString()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OnnxLoadError, match=f"{path}: not (a valid ONNX model|an ONNX model)"):
        load(path)


@pytest.mark.parametrize("location", ["../outside.bin", "sub/../../outside.bin", "/etc/passwd"])
def test_external_data_escaping_the_folder_is_refused_before_reading(tmp_path, location):
    model = _small_cnn()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    del tensor.float_data[:]
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "model.onnx"
    onnx.save_model(model, str(path))
    with pytest.raises(OnnxLoadError, match=f"{path}: tensor 'conv_w' has the (absolute )?external-data location"):
        load(path)


def test_model_proto_with_external_data_needs_a_path():
    model = _small_cnn()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="weights.bin")
    with pytest.raises(OnnxLoadError, match="<ModelProto>: the model references external data"):
        load(model)


def test_unreadable_opset():
    model = _small_cnn()
    model.opset_import[0].version = 99
    with pytest.raises(OnnxLoadError, match="opset 99 is outside the supported 13..21 and converting it to opset 21 failed"):
        load(model)


def test_unbound_symbolic_dimension():
    with pytest.raises(OnnxLoadError, match="graph input 'x' dimension 1 is symbolic dimension 'seq'; bind it with symbolic_dims"):
        load(_attention_block())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
        ({"symbolic_dims": {"seq": -2}}, "symbolic_dims\\['seq'\\] must be an int >= 1, got -2"),
    ],
)
def test_bad_binding_values(kwargs, message):
    with pytest.raises(OnnxLoadError, match=message):
        load(_attention_block(), **kwargs)


def test_wrong_source_type():
    with pytest.raises(OnnxLoadError, match="expected a path or an onnx.ModelProto, got int"):
        load(42)


def test_node_the_engine_rejects_is_named():
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="bad_conv")]
    model = _model(nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 3, 8, 8])],
                   [helper.make_tensor_value_info("y", FLOAT, None)], [_weight("w", 4, 2, 3, 3)])
    with pytest.raises(OnnxLoadError, match="<ModelProto>: node 'bad_conv' \\(Conv\\): .*C/group = 3"):
        load(model)


def test_export_errors():
    graph = load(_small_cnn())
    with pytest.raises(OnnxExportError, match="export expects an XflowGraph, got ModelProto"):
        export(_small_cnn())
    missing = XflowGraph(graph.engine, {k: v for k, v in graph.weights.items() if k != "fc_w"}, graph.opset_imports,
                         graph.ir_version, "test")
    with pytest.raises(OnnxExportError, match="test: op 'fc_w' \\(Weight\\): no data in the weight store"):
        export(missing)
    wrong = XflowGraph(graph.engine, {**graph.weights, "fc_b": np.zeros(3, np.float32)}, graph.opset_imports,
                       graph.ir_version, "test")
    with pytest.raises(OnnxExportError, match="op 'fc_b' \\(Weight\\): stored data is float32\\[3\\] but the engine expects float32\\[5\\]"):
        export(wrong)


def test_importing_writes_nothing_to_home(tmp_path, monkeypatch):
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    subprocess.run([sys.executable, "-c", "import rlgraph_xflow.graphs, rlgraph_xflow.graphs.onnx_io"], env=env, check=True,
                   timeout=120)
    assert list(home.iterdir()) == []
