"""Engine shape inference for every modelled op, checked against onnxruntime.

Each case builds a one-node ONNX model with onnx.helper, runs it in
onnxruntime, and compares the shapes and dtypes of the outputs onnxruntime
actually produced with the engine's inferred output types (the node must load
as a modelled op, not an opaque one).
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from rlgraph_xflow.graphs import load
from rlgraph_xflow.ops import _engine

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
INT_MAX = np.iinfo(np.int64).max
INT_MIN = np.iinfo(np.int64).min


def _case(op_type, inputs, attributes=None, constants=None, num_outputs=1, opset=17, case_id=None):
    """inputs: list of (dtype code, shape) runtime inputs or ("const", index) markers resolved from constants."""
    return pytest.param(op_type, inputs, attributes or {}, constants or {}, num_outputs, opset, id=case_id or op_type)


CASES = [
    # Convolutions: grouped, strided, dilated, padded, biased, auto-padded, 1-D and 3-D.
    _case("Conv", [(FLOAT, [1, 3, 9, 9]), (FLOAT, [4, 3, 3, 3])], case_id="conv_plain"),
    _case("Conv", [(FLOAT, [2, 4, 10, 11]), (FLOAT, [6, 2, 3, 3])], {"group": 2}, case_id="conv_grouped"),
    _case("Conv", [(FLOAT, [1, 3, 11, 10]), (FLOAT, [5, 3, 3, 5]), (FLOAT, [5])],
          {"strides": [2, 3], "pads": [1, 2, 0, 1]}, case_id="conv_strided_padded_bias"),
    _case("Conv", [(FLOAT, [1, 2, 12, 12]), (FLOAT, [3, 2, 3, 3])], {"dilations": [2, 3], "pads": [2, 2, 2, 2]},
          case_id="conv_dilated"),
    _case("Conv", [(FLOAT, [1, 4, 7, 8]), (FLOAT, [4, 1, 3, 3])], {"group": 4, "auto_pad": "SAME_UPPER", "strides": [2, 2]},
          case_id="conv_depthwise_same_upper"),
    _case("Conv", [(FLOAT, [1, 2, 9, 9]), (FLOAT, [3, 2, 4, 4])], {"auto_pad": "VALID", "strides": [2, 2]},
          case_id="conv_valid"),
    _case("Conv", [(FLOAT, [2, 3, 15]), (FLOAT, [4, 3, 4])], {"strides": [3], "pads": [1, 2]}, case_id="conv_1d"),
    _case("Conv", [(FLOAT, [1, 2, 5, 6, 7]), (FLOAT, [3, 2, 2, 3, 3])], {"pads": [0, 1, 1, 0, 1, 1]}, case_id="conv_3d"),
    # Gemm transposes and C broadcasting.
    _case("Gemm", [(FLOAT, [3, 5]), (FLOAT, [5, 4])], case_id="gemm_plain"),
    _case("Gemm", [(FLOAT, [5, 3]), (FLOAT, [5, 4]), (FLOAT, [4])], {"transA": 1, "alpha": 0.5}, case_id="gemm_transA_bias"),
    _case("Gemm", [(FLOAT, [3, 5]), (FLOAT, [4, 5]), (FLOAT, [3, 1])], {"transB": 1, "beta": 2.0}, case_id="gemm_transB"),
    _case("Gemm", [(FLOAT, [5, 3]), (FLOAT, [4, 5]), (FLOAT, [])], {"transA": 1, "transB": 1}, case_id="gemm_both_scalar_c"),
    # MatMul: 2-D, batched, broadcast batch dims, 1-D promotion.
    _case("MatMul", [(FLOAT, [3, 4]), (FLOAT, [4, 5])], case_id="matmul_2d"),
    _case("MatMul", [(FLOAT, [2, 3, 4]), (FLOAT, [2, 4, 5])], case_id="matmul_batched"),
    _case("MatMul", [(FLOAT, [2, 1, 3, 4]), (FLOAT, [5, 4, 6])], case_id="matmul_broadcast_batch"),
    _case("MatMul", [(FLOAT, [4]), (FLOAT, [2, 4, 5])], case_id="matmul_vector_left"),
    _case("MatMul", [(FLOAT, [2, 3, 4]), (FLOAT, [4])], case_id="matmul_vector_right"),
    _case("MatMul", [(FLOAT, [4]), (FLOAT, [4])], case_id="matmul_dot"),
    # Normalisation.
    _case("BatchNormalization", [(FLOAT, [2, 3, 4, 5])] + [(FLOAT, [3])] * 4, {"epsilon": 1e-3}),
    _case("LayerNormalization", [(FLOAT, [2, 5, 8]), (FLOAT, [8]), (FLOAT, [8])], case_id="layernorm_last"),
    _case("LayerNormalization", [(FLOAT, [2, 5, 8]), (FLOAT, [5, 8])], {"axis": 1}, num_outputs=3,
          case_id="layernorm_axis1_stats"),
    # Element-wise.
    _case("Relu", [(FLOAT, [2, 3, 4])]),
    _case("Sigmoid", [(FLOAT, [2, 3])]),
    _case("Tanh", [(FLOAT, [5])]),
    _case("LeakyRelu", [(FLOAT, [2, 3])], {"alpha": 0.2}),
    _case("Erf", [(FLOAT, [3, 4])]),
    _case("Sqrt", [(FLOAT, [3, 4])]),
    _case("Exp", [(FLOAT, [3, 4])]),
    _case("Clip", [(FLOAT, [3, 4]), ("const", 1), ("const", 2)],
          constants={1: np.array(0.0, np.float32), 2: np.array(6.0, np.float32)}),
    _case("Cast", [(FLOAT, [3, 4])], {"to": INT64}),
    _case("Softmax", [(FLOAT, [2, 3, 4])], {"axis": 1}, case_id="softmax_axis1"),
    _case("Softmax", [(FLOAT, [2, 3, 4])], case_id="softmax_default"),
    _case("Add", [(FLOAT, [2, 3, 4]), (FLOAT, [4])], case_id="add_broadcast_trailing"),
    _case("Mul", [(FLOAT, [2, 1, 4]), (FLOAT, [3, 1])], case_id="mul_broadcast_both"),
    _case("Sub", [(FLOAT, []), (FLOAT, [2, 3])], case_id="sub_scalar"),
    _case("Div", [(FLOAT, [4, 1, 3]), (FLOAT, [1, 5, 1])], case_id="div_broadcast"),
    _case("Pow", [(FLOAT, [2, 3]), (FLOAT, [1])], case_id="pow_broadcast"),
    _case("Identity", [(FLOAT, [2, 3])]),
    _case("Dropout", [(FLOAT, [2, 3])], case_id="dropout"),
    _case("Dropout", [(FLOAT, [2, 3])], num_outputs=2, case_id="dropout_mask"),
    # Data movement and shape ops.
    _case("Concat", [(FLOAT, [2, 3, 4]), (FLOAT, [2, 1, 4]), (FLOAT, [2, 5, 4])], {"axis": 1}, case_id="concat"),
    _case("Concat", [(FLOAT, [2, 3]), (FLOAT, [2, 4])], {"axis": -1}, case_id="concat_negative_axis"),
    _case("Split", [(FLOAT, [2, 6, 4]), ("const", 1)], {"axis": 1}, {1: np.array([1, 3, 2])}, num_outputs=3,
          case_id="split_sizes_input"),
    _case("Split", [(FLOAT, [6, 4])], num_outputs=3, case_id="split_equal"),
    _case("Split", [(FLOAT, [2, 5])], {"axis": -1, "num_outputs": 2}, num_outputs=2, opset=18,
          case_id="split_num_outputs_uneven"),
    _case("Slice", [(FLOAT, [5, 6, 7]), ("const", 1), ("const", 2)], constants={1: np.array([1, 2]), 2: np.array([4, 5])},
          case_id="slice_basic"),
    _case("Slice", [(FLOAT, [5, 6, 7]), ("const", 1), ("const", 2), ("const", 3)],
          constants={1: np.array([-3, 0]), 2: np.array([-1, INT_MAX]), 3: np.array([2, 0])}, case_id="slice_negative_axes"),
    _case("Slice", [(FLOAT, [5, 6, 7]), ("const", 1), ("const", 2), ("const", 3), ("const", 4)],
          constants={1: np.array([-1, 5]), 2: np.array([INT_MIN, 1]), 3: np.array([0, -2]), 4: np.array([-1, -2])},
          case_id="slice_negative_steps"),
    _case("Slice", [(FLOAT, [10]), ("const", 1), ("const", 2), ("const", 3), ("const", 4)],
          constants={1: np.array([1]), 2: np.array([9]), 3: np.array([0]), 4: np.array([3])}, case_id="slice_step3"),
    _case("Slice", [(FLOAT, [4, 4]), ("const", 1), ("const", 2)], constants={1: np.array([3]), 2: np.array([1])},
          case_id="slice_empty"),
    _case("Pad", [(FLOAT, [2, 3, 4]), ("const", 1)], constants={1: np.array([0, 1, 2, 1, 0, 3])}, case_id="pad_constant"),
    _case("Pad", [(FLOAT, [2, 3, 4]), ("const", 1)], {"mode": "reflect"}, {1: np.array([0, 1, 1, 0, 2, 1])},
          case_id="pad_reflect"),
    _case("Pad", [(FLOAT, [2, 3, 4]), ("const", 1), ("const", 2), ("const", 3)],
          constants={1: np.array([1, 2, 3, 4]), 2: np.array(0.5, np.float32), 3: np.array([0, -1])}, opset=18,
          case_id="pad_axes"),
    _case("Gather", [("const", 0), (INT64, [2, 5])], constants={0: np.zeros((100, 16), np.float32)},
          case_id="gather_embedding"),
    _case("Gather", [(FLOAT, [3, 4, 5]), ("const", 1)], {"axis": 1}, {1: np.array([[0, 3], [1, 2], [2, 2]])},
          case_id="gather_axis1"),
    _case("Reshape", [(FLOAT, [2, 3, 4]), ("const", 1)], constants={1: np.array([0, -1])}, case_id="reshape_zero_minus_one"),
    _case("Reshape", [(FLOAT, [2, 3, 4]), ("const", 1)], constants={1: np.array([4, 0, 2, -1])}, case_id="reshape_mixed"),
    _case("Transpose", [(FLOAT, [2, 3, 4, 5])], {"perm": [0, 2, 3, 1]}, case_id="transpose_perm"),
    _case("Transpose", [(FLOAT, [2, 3, 4])], case_id="transpose_default"),
    _case("Flatten", [(FLOAT, [2, 3, 4, 5])], case_id="flatten_default"),
    _case("Flatten", [(FLOAT, [2, 3, 4, 5])], {"axis": 0}, case_id="flatten_axis0"),
    _case("Flatten", [(FLOAT, [2, 3, 4, 5])], {"axis": -1}, case_id="flatten_negative"),
    _case("Squeeze", [(FLOAT, [1, 3, 1, 5]), ("const", 1)], constants={1: np.array([-2])}, case_id="squeeze_axes"),
    _case("Squeeze", [(FLOAT, [1, 3, 1, 5])], case_id="squeeze_all"),
    _case("Unsqueeze", [(FLOAT, [3, 5]), ("const", 1)], constants={1: np.array([0, 3])}, case_id="unsqueeze"),
    _case("Unsqueeze", [(FLOAT, [3, 5]), ("const", 1)], constants={1: np.array([-1])}, case_id="unsqueeze_negative"),
    # Pooling and reductions.
    _case("MaxPool", [(FLOAT, [1, 2, 9, 9])], {"kernel_shape": [3, 3], "strides": [2, 2]}, case_id="maxpool"),
    _case("MaxPool", [(FLOAT, [1, 2, 10, 9])], {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
          case_id="maxpool_ceil"),
    # Ceil rounding would start a last window inside the end padding: ONNX drops it (3 -> 2).
    _case("MaxPool", [(FLOAT, [1, 2, 6, 6])], {"kernel_shape": [3, 3], "strides": [4, 4], "pads": [0, 0, 2, 2],
          "ceil_mode": 1}, case_id="maxpool_ceil_last_window_dropped"),
    _case("MaxPool", [(FLOAT, [1, 2, 11, 11])], {"kernel_shape": [3, 2], "dilations": [2, 2], "pads": [1, 0, 1, 1]},
          num_outputs=2, case_id="maxpool_dilated_indices"),
    _case("AveragePool", [(FLOAT, [1, 3, 10, 7])], {"kernel_shape": [3, 3], "strides": [3, 2], "pads": [1, 1, 1, 1],
          "ceil_mode": 1, "count_include_pad": 1}, case_id="avgpool_ceil_pads"),
    _case("AveragePool", [(FLOAT, [1, 3, 10, 7])], {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
          case_id="avgpool_same_upper"),
    _case("GlobalAveragePool", [(FLOAT, [2, 3, 5, 6])]),
    _case("GlobalMaxPool", [(FLOAT, [2, 3, 5])]),
    _case("ReduceMean", [(FLOAT, [2, 3, 4])], {"axes": [-1], "keepdims": 1}, case_id="reducemean_attr_keep"),
    _case("ReduceMean", [(FLOAT, [2, 3, 4])], {"axes": [0, 2], "keepdims": 0}, case_id="reducemean_attr_drop"),
    _case("ReduceMean", [(FLOAT, [2, 3, 4]), ("const", 1)], {"keepdims": 0}, {1: np.array([1])}, opset=18,
          case_id="reducemean_axes_input"),
    _case("ReduceMean", [(FLOAT, [2, 3, 4])], case_id="reducemean_all"),
    _case("ReduceSum", [(FLOAT, [2, 3, 4]), ("const", 1)], constants={1: np.array([-1])}, opset=13, case_id="reducesum"),
    _case("ReduceMax", [(FLOAT, [2, 3, 4]), ("const", 1)], {"keepdims": 0}, {1: np.array([0])}, opset=18,
          case_id="reducemax"),
]


def _single_op_model(op_type, inputs, attributes, constants, num_outputs, opset):
    graph_inputs, initializers, input_names, feeds = [], [], [], {}
    generator = np.random.default_rng(0)
    for index, spec in enumerate(inputs):
        name = f"input{index}"
        if spec[0] == "const":
            value = np.asarray(constants[spec[1]])
            initializers.append(numpy_helper.from_array(value, name))
        else:
            dtype, shape = spec
            graph_inputs.append(helper.make_tensor_value_info(name, dtype, shape))
            if dtype == INT64:
                feeds[name] = generator.integers(0, 3, size=shape).astype(np.int64)
            else:
                feeds[name] = np.asarray(np.abs(generator.standard_normal(shape)) + 0.5, dtype=np.float32)
        input_names.append(name)
    output_names = [f"output{index}" for index in range(num_outputs)]
    node = helper.make_node(op_type, input_names, output_names, name="node_under_test", **attributes)
    outputs = [onnx.ValueInfoProto(name=name) for name in output_names]
    graph = helper.make_graph([node], "single", graph_inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model, feeds


@pytest.mark.parametrize("op_type, inputs, attributes, constants, num_outputs, opset", CASES)
def test_engine_shapes_match_onnxruntime(op_type, inputs, attributes, constants, num_outputs, opset):
    model, feeds = _single_op_model(op_type, inputs, attributes, constants, num_outputs, opset)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    actual = session.run(None, feeds)

    graph = load(model)
    op = graph.engine.op(graph.engine.find_op("node_under_test"))
    assert op["type"] == op_type, "the op must be modelled by the engine, not carried as opaque"
    inferred = op["output_types"]
    assert len(inferred) == len(actual)
    for (dtype, shape), produced in zip(inferred, actual):
        assert shape == list(produced.shape)
        assert dtype == str(produced.dtype)


def test_constant_node_shape_matches_onnxruntime():
    value = np.arange(12, dtype=np.int64).reshape(3, 4)
    node = helper.make_node("Constant", [], ["output0"], value=numpy_helper.from_array(value))
    graph = helper.make_graph([node], "constant", [], [onnx.ValueInfoProto(name="output0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    actual = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {})[0]
    loaded = load(model)
    op = loaded.engine.op(loaded.engine.find_op("output0"))
    assert op["type"] == "Constant"
    assert op["output_types"][0] == (str(actual.dtype), list(actual.shape))
    assert op["params"]["int_values"] == actual.reshape(-1).tolist()


def test_every_supported_op_type_has_an_onnxruntime_case():
    covered = {case.values[0] for case in CASES}
    assert set(_engine.supported_op_types()) <= covered


BAD_OPS = [
    ("Conv", [("float32", [1, 3, 8, 8]), ("float32", [4, 2, 3, 3])], {}, "C/group"),
    ("Conv", [("float32", [1, 4, 8, 8]), ("float32", [4, 2, 3, 3])], {"group": 3}, "group 3"),
    ("Conv", [("float32", [1, 3, 2, 2]), ("float32", [4, 3, 3, 3])], {}, "too small"),
    ("Gemm", [("float32", [3, 4]), ("float32", [5, 6])], {}, "inner dimensions"),
    ("MatMul", [("float32", [2, 3, 4]), ("float32", [3, 5, 6])], {}, "inner dimensions"),
    ("MatMul", [("float32", [2, 3, 4]), ("float32", [3, 4, 6])], {}, "do not broadcast"),
    ("Add", [("float32", [2, 3]), ("float32", [4])], {}, "do not broadcast"),
    ("Add", [("float32", [2, 3]), ("int64", [3])], {}, "share a dtype"),
    ("Transpose", [("float32", [2, 3])], {"perm": [0, 0]}, "not a permutation"),
    ("Softmax", [("float32", [2, 3])], {"axis": 2}, "out of range"),
    ("Concat", [("float32", [2, 3]), ("float32", [3, 3])], {"axis": 1}, "does not match"),
    ("MaxPool", [("float32", [1, 2, 5, 5])], {}, "kernel_shape"),
    ("Conv", [("float32", [1, 3, 8, 8]), ("float32", [4, 3, 3, 3])], {"strides": [1]}, "'strides' must have 2 values"),
    ("Conv", [("float32", [1, 3, 8, 8]), ("float32", [4, 3, 3, 3])], {"group": "two"}, "must be int"),
]


@pytest.mark.parametrize("op_type, inputs, params, message", BAD_OPS, ids=[f"{case[0]}-{case[3]}" for case in BAD_OPS])
def test_engine_rejects_ops_whose_shapes_do_not_fit(op_type, inputs, params, message):
    graph = _engine.Graph()
    edges = [(graph.add_input(f"x{index}", dtype, shape), 0) for index, (dtype, shape) in enumerate(inputs)]
    with pytest.raises(_engine.GraphError, match=message) as raised:
        graph.add_op(op_type, "bad_op", edges, params)
    assert f"op 'bad_op' ({op_type})" in str(raised.value)
    assert len(graph) == len(inputs), "a rejected op must not be added"


def test_reshape_needs_constant_shape_in_the_engine():
    graph = _engine.Graph()
    data = graph.add_input("data", "float32", [2, 3])
    shape = graph.add_input("shape", "int64", [2])
    with pytest.raises(_engine.GraphError, match="input 1 \\(shape\\) must be a constant integer tensor"):
        graph.add_op("Reshape", "reshape", [(data, 0), (shape, 0)])
    values = graph.add_weight("values", "int64", [2], [3, -1])
    with pytest.raises(_engine.GraphError, match="cannot infer the -1"):
        graph.add_op("Reshape", "reshape", [(data, 0), (graph.add_weight("bad", "int64", [2], [4, -1]), 0)])
    index = graph.add_op("Reshape", "reshape", [(data, 0), (values, 0)])
    assert graph.op(index)["output_types"] == [("float32", [3, 2])]
