"""Tests for verify (rlgraph_xflow.graphs.verify) on tiny hand-written models.

Expected differences are computed independently with numpy from the same
inputs and the weights the test itself chose.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rlgraph_xflow.graphs.latency import VERDICTS, LatencyProtocol
from rlgraph_xflow.graphs.verify import random_inputs, verify

FLOAT = TensorProto.FLOAT
# One timed run per model: for the tests that check outputs, not latency.
ONCE = LatencyProtocol(rounds=1, runs_per_round=1, warmup=0)


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _dense_model(weight, bias, input_name="x", input_shape=(2, 3)):
    """y = relu(x @ weight + bias) and z = 2 x: two outputs, only y depends on the weight."""
    return _model(
        [
            helper.make_node("MatMul", [input_name, "weight"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["sum"]),
            helper.make_node("Relu", ["sum"], ["y"]),
            helper.make_node("Mul", [input_name, "two"], ["z"]),
        ],
        [helper.make_tensor_value_info(input_name, FLOAT, list(input_shape))],
        [
            helper.make_tensor_value_info("y", FLOAT, [input_shape[0], weight.shape[1]]),
            helper.make_tensor_value_info("z", FLOAT, list(input_shape)),
        ],
        [
            numpy_helper.from_array(weight, "weight"),
            numpy_helper.from_array(bias, "bias"),
            numpy_helper.from_array(np.asarray(2.0, dtype=np.float32), "two"),
        ],
    )


@pytest.fixture(scope="module")
def weights():
    generator = np.random.default_rng(42)
    weight = generator.standard_normal((3, 4)).astype(np.float32)
    bias = generator.standard_normal(4).astype(np.float32)
    return weight, bias


def test_a_model_equals_itself_with_zero_difference(weights):
    model = _dense_model(*weights)
    result = verify(model, model)
    assert result.equal
    assert result.max_abs_diff == 0.0 and result.max_rel_diff == 0.0
    assert [output.name for output in result.outputs] == ["y", "z"]
    assert result.protocol == LatencyProtocol()
    assert result.latency_ms_original > 0 and result.latency_ms_candidate > 0
    assert result.latency.original_ms == result.latency_ms_original and result.latency.verdict in VERDICTS


def test_a_perturbed_weight_is_caught_with_the_numpy_difference(weights):
    weight, bias = weights
    perturbed = weight.copy()
    perturbed[1, 2] += 0.5
    x = np.random.default_rng(7).standard_normal((2, 3)).astype(np.float32)
    result = verify(_dense_model(weight, bias), _dense_model(perturbed, bias), input_values={"x": x}, protocol=LatencyProtocol.fast())

    expected_y = np.maximum(x @ weight + bias, 0)
    perturbed_y = np.maximum(x @ perturbed + bias, 0)
    expected_abs = np.abs(perturbed_y - expected_y).max()
    nonzero = expected_y != 0
    expected_rel = (np.abs(perturbed_y - expected_y)[nonzero] / np.abs(expected_y[nonzero])).max()
    assert expected_abs > 1e-3  # the perturbation shows, or the test would prove nothing
    assert not result.equal
    assert result.max_abs_diff == pytest.approx(expected_abs, rel=1e-5, abs=1e-6)
    assert result.max_rel_diff == pytest.approx(expected_rel, rel=1e-4)
    by_name = {output.name: output for output in result.outputs}
    assert not by_name["y"].equal and by_name["y"].shape == (2, 4)
    assert by_name["z"].equal and by_name["z"].max_abs_diff == 0.0


def test_tolerance_decides_equality(weights):
    weight, bias = weights
    nudged = bias + np.float32(1e-3)
    x = np.abs(np.random.default_rng(1).standard_normal((2, 3))).astype(np.float32)
    strict = verify(_dense_model(weight, bias), _dense_model(weight, nudged), input_values={"x": x}, protocol=ONCE, atol=1e-5, rtol=0)
    loose = verify(_dense_model(weight, bias), _dense_model(weight, nudged), input_values={"x": x}, protocol=ONCE, atol=1e-2, rtol=0)
    assert not strict.equal and loose.equal
    assert strict.max_abs_diff == pytest.approx(loose.max_abs_diff)
    assert 0 < strict.max_abs_diff <= 1.01e-3


def test_latencies_are_measured_medians():
    """A candidate that does 0.1 GFLOP of extra work is measurably slower than a lone Relu."""
    size = 256
    generator = np.random.default_rng(0)
    relu = _model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", FLOAT, [size, size])],
    )
    nodes, initializers, previous = [], [], "x"
    for index in range(3):
        initializers.append(numpy_helper.from_array((generator.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32), f"w{index}"))
        nodes.append(helper.make_node("MatMul", [previous, f"w{index}"], [f"m{index}"]))
        previous = f"m{index}"
    initializers.append(numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), "zero"))
    nodes += [
        helper.make_node("Mul", [previous, "zero"], ["nothing"]),
        helper.make_node("Relu", ["x"], ["relu"]),
        helper.make_node("Add", ["relu", "nothing"], ["y"]),
    ]
    heavy = _model(
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", FLOAT, [size, size])],
        initializers,
    )
    result = verify(relu, heavy, protocol=LatencyProtocol.fast())
    assert result.equal
    assert result.latency.verdict == "slower" and result.latency.change > 1
    assert result.latency_ms_candidate > 2 * result.latency_ms_original
    assert result.speedup < 0.5


def test_token_ids_stay_below_the_embedding_table():
    table = np.arange(14, dtype=np.float32).reshape(7, 2)
    model = _model(
        [helper.make_node("Gather", ["table", "ids"], ["embedded"], axis=0)],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 50])],
        [helper.make_tensor_value_info("embedded", FLOAT, ["batch", 50, 2])],
        [numpy_helper.from_array(table, "table")],
    )
    values = random_inputs(model, seed=3, dims={"batch": 4})
    assert values["ids"].shape == (4, 50) and values["ids"].dtype == np.int64
    assert values["ids"].min() >= 0 and values["ids"].max() <= 6
    assert len(np.unique(values["ids"])) > 3
    assert random_inputs(model, seed=3)["ids"].shape == (1, 50)  # unbound symbolic dims default to 1
    assert verify(model, model, protocol=ONCE, dims={"batch": 4}).equal


def test_integer_input_without_known_range_needs_int_high():
    model = _model(
        [helper.make_node("Mul", ["a", "a"], ["b"])],
        [helper.make_tensor_value_info("a", TensorProto.INT64, [5])],
        [helper.make_tensor_value_info("b", TensorProto.INT64, [5])],
    )
    with pytest.raises(ValueError, match=r"integer input 'a'.*int_high"):
        verify(model, model, protocol=ONCE)
    values = random_inputs(model, int_high=3)
    assert values["a"].max() <= 2
    assert verify(model, model, protocol=ONCE, int_high=3).equal


def test_models_can_be_given_as_paths(tmp_path, weights):
    model = _dense_model(*weights)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    assert verify(str(path), path, protocol=LatencyProtocol.fast()).equal
    assert verify(model, path, protocol=LatencyProtocol.fast()).equal


def test_mismatched_input_names_are_named(weights):
    with pytest.raises(ValueError, match=r"inputs differ: original has \['x'\], candidate has \['image'\]"):
        verify(_dense_model(*weights), _dense_model(*weights, input_name="image"), protocol=ONCE)


def test_mismatched_input_shapes_are_named(weights):
    with pytest.raises(ValueError, match=r"input 'x' has shape \[2, 3\] in the original but \[5, 3\] in the candidate"):
        verify(_dense_model(*weights), _dense_model(*weights, input_shape=(5, 3)), protocol=ONCE)


def test_mismatched_outputs_are_named(weights):
    weight, bias = weights
    other = _dense_model(weight, bias)
    other.graph.output[1].name = "w"
    other.graph.node[3].output[0] = "w"
    with pytest.raises(ValueError, match=r"outputs differ.*missing from candidate: \['z'\], not in original: \['w'\]"):
        verify(_dense_model(weight, bias), other, protocol=ONCE)
    wider = _dense_model(np.ones((3, 5), dtype=np.float32), np.ones(5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"output 'y' has shape \[2, 4\] in the original but \[2, 5\]"):
        verify(_dense_model(weight, bias), wider, protocol=ONCE)


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        ({"image": np.zeros((2, 3), np.float32)}, r"input_values has 'image', but the models' inputs are \['x'\]"),
        ({"x": np.zeros((2, 3), np.float64)}, r"input_values\['x'\] has dtype float64, the models expect float32"),
        ({"x": np.zeros((3, 3), np.float32)}, r"input_values\['x'\] has shape \[3, 3\], the models expect \[2, 3\]"),
    ],
)
def test_bad_input_values_are_explained(weights, overrides, pattern):
    model = _dense_model(*weights)
    with pytest.raises(ValueError, match=pattern):
        verify(model, model, input_values=overrides, protocol=ONCE)


def test_bad_models_and_settings_are_explained(tmp_path, weights):
    model = _dense_model(*weights)
    with pytest.raises(FileNotFoundError, match=r"candidate model file '.*missing.onnx' does not exist"):
        verify(model, tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\x00 not a protobuf \x13")
    with pytest.raises(ValueError, match=r"original model file '.*garbage.onnx' is not a readable ONNX model"):
        verify(garbage, model)
    with pytest.raises(TypeError, match=r"must be an onnx.ModelProto or a path, found int"):
        verify(model, 3)
    with pytest.raises(ValueError, match=r"protocol must be a LatencyProtocol or None, found int 20"):
        verify(model, model, protocol=20)
    with pytest.raises(ValueError, match=r"atol must be a number >= 0, found -1"):
        verify(model, model, atol=-1)
