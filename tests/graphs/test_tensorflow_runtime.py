"""Tests for to_tensorflow (rlgraph_xflow.graphs.tensorflow_runtime): ONNX models run in TensorFlow through onnx-tf.

Every output is checked against an independent reference: numpy formulas
written here from the ONNX specification for the tiny graphs, onnxruntime's
outputs for the zoo graphs and their greedy-optimized exports, within
verify's default tolerances (|tf - reference| <= 1e-4 + 1e-4 |reference|).
"""
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rlgraph_xflow.graphs import OnnxLoadError, export, load, to_tensorflow, zoo
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session
from rlgraph_xflow.graphs.substitutions import greedy, load_rules
from rlgraph_xflow.graphs.tensorflow_runtime import hardmax
from rlgraph_xflow.graphs.verify import random_inputs

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
# verify's default tolerances.
RTOL = ATOL = 1e-4


def _model(nodes, inputs, outputs, initializers=(), other_domains=()):
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=list(initializers))
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(domain, 1) for domain in other_domains]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _value(name, shape, element_type=FLOAT):
    return helper.make_tensor_value_info(name, element_type, shape)


def _onnxruntime_outputs(model, feeds):
    return create_cpu_session(model).run(None, feeds)


def _assert_equal_outputs(actual, expected):
    assert len(actual) == len(expected)
    for actual_output, expected_output in zip(actual, expected):
        assert actual_output.dtype == expected_output.dtype
        np.testing.assert_allclose(actual_output, expected_output, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- LayerNormalization


def _layer_norm_reference(x, scale, bias, axis, epsilon):
    """ONNX LayerNormalization-17, in float64: Y, Mean and InvStdDev over axes axis..rank-1."""
    axes = tuple(range(axis % x.ndim, x.ndim))
    values = x.astype(np.float64)
    mean = values.mean(axis=axes, keepdims=True)
    inverse_deviation = 1.0 / np.sqrt(((values - mean) ** 2).mean(axis=axes, keepdims=True) + epsilon)
    normalized = (values - mean) * inverse_deviation * scale + bias
    return [normalized.astype(np.float32), mean.astype(np.float32), inverse_deviation.astype(np.float32)]


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_normalization_matches_numpy_and_onnxruntime(axis):
    generator = np.random.default_rng(0)
    shape = [2, 3, 5]
    normalized_shape = shape[axis % 3:]
    scale = generator.standard_normal(normalized_shape).astype(np.float32)
    bias = generator.standard_normal(normalized_shape).astype(np.float32)
    epsilon = 1e-3
    statistics_shape = shape[:axis % 3] + [1] * len(normalized_shape)
    model = _model(
        [helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y", "mean", "inverse_deviation"],
                          name="layer_norm", axis=axis, epsilon=epsilon)],
        [_value("x", shape)],
        [_value("y", shape), _value("mean", statistics_shape), _value("inverse_deviation", statistics_shape)],
        [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(bias, "bias")],
    )
    # Offset and scaled so that the mean and variance matter.
    x = (3.0 + 2.0 * generator.standard_normal(shape)).astype(np.float32)
    outputs = to_tensorflow(model)({"x": x})
    _assert_equal_outputs(outputs, _layer_norm_reference(x, scale, bias, axis, epsilon))
    _assert_equal_outputs(outputs, _onnxruntime_outputs(model, {"x": x}))


def test_layer_normalization_without_bias_and_with_only_its_first_output():
    generator = np.random.default_rng(1)
    scale = generator.standard_normal([4]).astype(np.float32)
    model = _model(
        [helper.make_node("LayerNormalization", ["x", "scale"], ["y"], axis=-1)],
        [_value("x", [3, 4])],
        [_value("y", [3, 4])],
        [numpy_helper.from_array(scale, "scale")],
    )
    x = generator.standard_normal([3, 4]).astype(np.float32)
    [y] = to_tensorflow(model)({"x": x})
    np.testing.assert_allclose(y, _layer_norm_reference(x, scale, 0.0, -1, 1e-5)[0], rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- ops onnx-tf 1.10 stops short of


def test_unsqueeze_and_squeeze_with_axes_inputs_and_leaky_relu_16():
    """Opset 17: Squeeze/Unsqueeze take their axes as an input (13), LeakyRelu is at version 16."""
    model = _model(
        [
            helper.make_node("Unsqueeze", ["x", "unsqueeze_axes"], ["unsqueezed"]),
            helper.make_node("LeakyRelu", ["unsqueezed"], ["activated"], alpha=0.2),
            helper.make_node("Squeeze", ["activated", "squeeze_axes"], ["squeezed"]),
            helper.make_node("Squeeze", ["activated"], ["squeezed_all"]),
        ],
        [_value("x", [2, 3])],
        [_value("unsqueezed", [1, 2, 1, 3]), _value("squeezed", [2, 1, 3]), _value("squeezed_all", [2, 3])],
        [numpy_helper.from_array(np.array([0, -2], np.int64), "unsqueeze_axes"),
         numpy_helper.from_array(np.array([0], np.int64), "squeeze_axes")],
    )
    x = np.random.default_rng(2).standard_normal([2, 3]).astype(np.float32)
    unsqueezed, squeezed, squeezed_all = to_tensorflow(model)({"x": x})
    activated = np.where(x > 0, x, 0.2 * x)
    np.testing.assert_array_equal(unsqueezed, x[None, :, None, :])
    np.testing.assert_allclose(squeezed, activated[:, None, :], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(squeezed_all, activated, rtol=RTOL, atol=ATOL)


def _hardmax_reference(x, axis):
    """One-hot of the first maximum along axis (numpy's argmax returns the first of equal entries)."""
    first = np.expand_dims(np.argmax(x, axis=axis), axis)
    return (np.arange(x.shape[axis]).reshape([-1 if a == axis % x.ndim else 1 for a in range(x.ndim)]) == first).astype(x.dtype)


@pytest.mark.parametrize("axis", [-1, 1])
def test_hardmax_through_the_tensorflow_addons_stand_in(axis):
    x = np.random.default_rng(3).integers(0, 3, size=[2, 4, 5]).astype(np.float32)  # many ties
    model = _model([helper.make_node("Hardmax", ["x"], ["y"], axis=axis)], [_value("x", [2, 4, 5])], [_value("y", [2, 4, 5])])
    [y] = to_tensorflow(model)({"x": x})
    np.testing.assert_array_equal(y, _hardmax_reference(x, axis))
    np.testing.assert_array_equal(y, _onnxruntime_outputs(model, {"x": x})[0])
    # onnx-tf found this module's hardmax under the name it imports.
    assert sys.modules["tensorflow_addons"].seq2seq.hardmax is hardmax
    with pytest.raises(AttributeError, match="stand-in.*no 'image'"):
        sys.modules["tensorflow_addons"].image


@pytest.mark.parametrize("k", [-1, 0, 2, 9])
def test_a_handler_that_branches_on_a_tensor_is_traced_with_autograph(k):
    # onnx-tf's Trilu compares its k input with Python `if`: traced without autograph that fails, so the
    # runner is onnx-tf's own autograph-converted function.
    model = _model([helper.make_node("Trilu", ["x", "k"], ["y"], upper=1)], [_value("x", [3, 4]), _value("k", [], INT64)],
                   [_value("y", [3, 4])])
    x = np.random.default_rng(6).standard_normal([3, 4]).astype(np.float32)
    feeds = {"x": x, "k": np.array(k, np.int64)}
    [y] = to_tensorflow(model)(feeds)
    np.testing.assert_array_equal(y, np.triu(x, k))
    np.testing.assert_array_equal(y, _onnxruntime_outputs(model, feeds)[0])


# ---------------------------------------------------------------- names TensorFlow refuses


def test_names_tensorflow_refuses_are_replaced_on_a_copy_only():
    # Node names with '::' (the engine's), one that '::' -> '__' would collide with, a leading '/' (PyTorch's),
    # none at all; inputs that cannot be keyword arguments ('input.1', and 'self' of the module's __call__).
    weight = np.random.default_rng(4).standard_normal([3, 3]).astype(np.float32)
    model = _model(
        [
            helper.make_node("MatMul", ["input.1", "weight"], ["product"], name="fuse_matmul.fused_cce095::matmul"),
            helper.make_node("Relu", ["product"], ["activated"], name="fuse_matmul.fused_cce095::activation"),
            helper.make_node("Mul", ["activated", "self"], ["scaled"], name="fuse_matmul.fused_cce095__activation"),
            helper.make_node("Add", ["scaled", "input.1"], ["sum"], name="/block/Add"),
            helper.make_node("Neg", ["sum"], ["negated"]),
            helper.make_node("Identity", ["input.1"], ["input.1_copy"], name="copy::input"),
        ],
        [_value("input.1", [2, 3]), _value("self", [2, 3])],
        [_value("negated", [2, 3]), _value("input.1_copy", [2, 3])],
        [numpy_helper.from_array(weight, "weight")],
    )
    before = model.SerializeToString()
    runner = to_tensorflow(model)
    assert model.SerializeToString() == before
    assert runner.input_names == ["input.1", "self"]
    assert runner.output_names == ["negated", "input.1_copy"]
    generator = np.random.default_rng(5)
    x = generator.standard_normal([2, 3]).astype(np.float32)
    factor = generator.standard_normal([2, 3]).astype(np.float32)
    negated, copied = runner({"input.1": x, "self": factor})
    np.testing.assert_allclose(negated, -(np.maximum(x @ weight, 0) * factor + x), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(copied, x)


# ---------------------------------------------------------------- engine exports


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def _original_and_greedy(model, rules):
    """The model exported by the engine as loaded, and after greedy descent priced by the analytic model."""
    graph = load(model)
    result = greedy(graph, rules)
    assert result.applied, "greedy changed nothing: the optimized graph would test nothing new"
    return export(graph), export(result.graph)


def _check_against_onnxruntime(model, dims=None):
    feeds = random_inputs(model, seed=0, dims=dims)
    outputs = to_tensorflow(model)(feeds)
    expected = _onnxruntime_outputs(model, feeds)
    _assert_equal_outputs(outputs, expected)
    return max(float(np.max(np.abs(output.astype(np.float64) - reference))) for output, reference in zip(outputs, expected))


def test_squeezenet_and_its_greedy_export_match_onnxruntime(rules):
    original, optimized = _original_and_greedy(zoo.build("squeezenet1_1", image_size=64, num_classes=10), rules)
    # The engine's names for the nodes it splits off fused ops are what TensorFlow refused.
    assert any("::" in node.name for node in optimized.graph.node)
    _check_against_onnxruntime(original)
    _check_against_onnxruntime(optimized)


ZOO_OPTIONS = {
    "squeezenet1_1": dict(image_size=64),
    "resnet18": dict(image_size=64),
    "resnet50": dict(image_size=64),
    "inception_v3": dict(image_size=75),
    # attention_mask adds the Unsqueeze (axes as an input) onnx-tf 1.10 lacks.
    "bert_base": dict(sequence_length=16, attention_mask=True),
}


@pytest.mark.long
@pytest.mark.parametrize("name", list(ZOO_OPTIONS))
def test_zoo_graph_and_its_greedy_export_match_onnxruntime(name, rules):
    original, optimized = _original_and_greedy(zoo.build(name, **ZOO_OPTIONS[name]), rules)
    differences = [_check_against_onnxruntime(model) for model in (original, optimized)]
    print(f"{name}: max |tensorflow - onnxruntime| original {differences[0]:.3g}, greedy-optimized {differences[1]:.3g}")


# ---------------------------------------------------------------- bad input


def test_bad_models_are_refused_with_the_problem_named(tmp_path):
    with pytest.raises(OnnxLoadError, match="expected a path or an onnx.ModelProto, got int"):
        to_tensorflow(3)
    with pytest.raises(OnnxLoadError, match="missing.onnx: file not found"):
        to_tensorflow(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx model at all")
    with pytest.raises(OnnxLoadError, match="garbage.onnx: not"):
        to_tensorflow(garbage)


def test_ops_onnx_tf_cannot_convert_are_all_named():
    model = _model(
        [
            helper.make_node("Where", ["condition", "x", "y"], ["chosen"], name="choose"),
            helper.make_node("Frobnicate", ["chosen"], ["out"], name="custom", domain="com.example"),
        ],
        [_value("condition", [2], TensorProto.BOOL), _value("x", [2]), _value("y", [2])],
        [_value("out", [2])],
        other_domains=["com.example"],
    )
    with pytest.raises(OnnxLoadError) as raised:
        to_tensorflow(model)
    message = str(raised.value)
    assert "cannot convert 2 node(s)" in message
    assert "node 'choose' (Where): the model's opset needs version 16 of the op, onnx-tf implements versions [9]" in message
    assert "node 'custom' (Frobnicate, domain com.example): onnx-tf has no handler" in message


def test_a_node_that_fails_to_convert_is_named():
    # Unsqueeze's axes computed from a graph input: not known when tracing.
    model = _model(
        [helper.make_node("Unsqueeze", ["x", "axes"], ["y"], name="expand::dims")],
        [_value("x", [2]), _value("axes", [1], INT64)],
        [_value("y", [1, 2])],
    )
    with pytest.raises(OnnxLoadError, match=r"failed to convert node 'expand::dims' \(Unsqueeze\): ValueError: its axes input 'axes' is computed at run time"):
        to_tensorflow(model)


def test_bad_feeds_are_refused(tmp_path):
    model = _model([helper.make_node("Neg", ["x"], ["y"])], [_value("x", [2, 3])], [_value("y", [2, 3])])
    path = os.path.join(tmp_path, "negate.onnx")
    onnx.save(model, path)
    runner = to_tensorflow(path)
    x = np.ones([2, 3], np.float32)
    np.testing.assert_array_equal(runner({"x": x})[0], -x)
    with pytest.raises(ValueError, match=r"negate.onnx: the model's inputs are \['x'\]; the feeds lack \['x'\] and have unknown \['z'\]"):
        runner({"z": x})
    with pytest.raises(ValueError, match="input 'x' has dtype float64, the model takes float32"):
        runner({"x": x.astype(np.float64)})
    with pytest.raises(ValueError, match=r"input 'x' has shape \[3, 2\], the model takes \[2, 3\]"):
        runner({"x": x.T.copy()})
    with pytest.raises(TypeError, match="feeds must be a mapping"):
        runner([x])
