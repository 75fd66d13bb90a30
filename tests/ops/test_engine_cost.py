"""The engine cost model: FLOPs against hand-written formulas, the analytic
roofline recomputed from the device profiles, zero-launch decisions, measured
cost tables, and measurement descriptors (accepted by graphs/measure.py)."""
from __future__ import annotations

import onnxruntime
import pytest

from rlgraph_xflow.graphs import measure
from rlgraph_xflow.ops import _engine


def _single(op_type, input_shapes, params=None, weights=(), num_outputs=1):
    graph = _engine.Graph()
    edges = []
    for index, shape in enumerate(input_shapes):
        add = graph.add_weight if index in weights else graph.add_input
        edges.append((add(f"in{index}", "float32", shape), 0))
    op = graph.add_op(op_type, "op", edges, params or {}, num_outputs)
    graph.set_outputs([(op, 0, "y")])
    return graph


def _op_record(graph, name="op"):
    return next(record for record in graph.cost(device="h100")["ops"] if record["name"] == name)


def test_conv_flops_match_the_hand_formula():
    # Grouped, strided, padded conv with bias: N=2, C=6, H=W=11, M=4, group=2, k=3x2, stride 2, pads 1.
    graph = _single("Conv", [[2, 6, 11, 11], [4, 3, 3, 2], [4]], {"group": 2, "strides": [2, 2], "pads": [1, 1, 1, 1]},
                    weights=(1, 2))
    out_h = (11 + 2 - 3) // 2 + 1
    out_w = (11 + 2 - 2) // 2 + 1
    multiply_adds = 2 * 4 * out_h * out_w * (6 // 2) * 3 * 2
    assert _op_record(graph)["flops"] == 2 * multiply_adds + 2 * 4 * out_h * out_w


def test_matmul_flops_match_the_hand_formula():
    graph = _single("MatMul", [[3, 1, 5, 7], [4, 7, 6]])
    batch, m, k, n = 3 * 4, 5, 7, 6
    assert _op_record(graph)["flops"] == 2 * batch * m * n * k


def test_gemm_flops_match_the_hand_formula():
    graph = _single("Gemm", [[9, 5], [7, 9], [7]], {"transA": 1, "transB": 1}, weights=(1, 2))
    m, k, n = 5, 9, 7
    assert _op_record(graph)["flops"] == 2 * m * n * k + m * n


@pytest.mark.parametrize("device", ["rtx2070", "v100", "h100", "cpu"])
def test_analytic_runtime_is_the_roofline_plus_launch_overhead(device):
    profile = _engine.device_profiles()[device]
    graph = _single("Conv", [[1, 16, 32, 32], [32, 16, 3, 3]], {"pads": [1, 1, 1, 1]}, weights=(1,))
    record = _op_record(graph)
    flops = 2 * 32 * 32 * 32 * 16 * 9
    bytes_moved = 4 * (16 * 32 * 32 + 32 * 16 * 9 + 32 * 32 * 32)
    expected_ms = max(flops / profile["peak_flops_per_second"], bytes_moved / profile["bandwidth_bytes_per_second"]) * 1e3
    expected_ms += profile["launch_overhead_ms"]
    cost = graph.cost(device=device)
    assert record["mem_access_bytes"] == bytes_moved
    assert cost["runtime_ms"] == pytest.approx(expected_ms, rel=1e-12)
    assert cost["kernel_launches"] == 1


def test_device_profiles_use_spec_sheet_numbers():
    profiles = _engine.device_profiles()
    assert set(profiles) == {"rtx2070", "v100", "h100", "cpu"}
    assert profiles["v100"]["peak_flops_per_second"] == 15.7e12
    assert profiles["h100"]["bandwidth_bytes_per_second"] == 3.35e12
    assert profiles["rtx2070"]["bandwidth_bytes_per_second"] == 448e9


def _mixed_graph():
    """Launched ops, metadata ops, and a constant-foldable subgraph."""
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 3, 4])
    w1 = graph.add_weight("w1", "float32", [4])
    w2 = graph.add_weight("w2", "float32", [4])
    shape = graph.add_weight("shape", "int64", [2], [2, 12])
    folded = graph.add_op("Add", "folded_add", [(w1, 0), (w2, 0)])
    folded_relu = graph.add_op("Relu", "folded_relu", [(folded, 0)])
    add = graph.add_op("Add", "add", [(x, 0), (folded_relu, 0)])
    identity = graph.add_op("Identity", "identity", [(add, 0)])
    dropout = graph.add_op("Dropout", "dropout", [(identity, 0)])
    unsqueeze = graph.add_op("Unsqueeze", "unsqueeze", [(dropout, 0), (graph.add_weight("axes", "int64", [1], [0]), 0)])
    squeeze = graph.add_op("Squeeze", "squeeze", [(unsqueeze, 0)])
    reshape = graph.add_op("Reshape", "reshape", [(squeeze, 0), (shape, 0)])
    flatten = graph.add_op("Flatten", "flatten", [(reshape, 0)])
    relu = graph.add_op("Relu", "relu", [(flatten, 0)])
    relu_again = graph.add_op("Relu", "relu_again", [(relu, 0)])
    graph.set_outputs([(relu_again, 0, "y")])
    return graph


def test_free_and_foldable_ops_cost_nothing():
    cost = _mixed_graph().cost(device="v100")
    records = {record["name"]: record for record in cost["ops"]}
    for name in ("folded_add", "folded_relu", "identity", "dropout", "unsqueeze", "squeeze", "reshape", "flatten"):
        assert (records[name]["kernel_launches"], records[name]["runtime_ms"], records[name]["flops"],
                records[name]["mem_access_bytes"]) == (0, 0.0, 0.0, 0.0), name
    for name in ("add", "relu", "relu_again"):
        assert records[name]["kernel_launches"] == 1
    assert cost["kernel_launches"] == 3
    assert cost["flops"] == 3 * 24
    assert cost["runtime_ms"] == pytest.approx(sum(record["runtime_ms"] for record in cost["ops"]))
    assert cost["mem_access_bytes"] == sum(record["mem_access_bytes"] for record in cost["ops"])
    assert {"x", "w1", "shape"}.isdisjoint(records), "inputs and weights are not priced"


def test_measured_table_prices_each_op_by_its_cost_key():
    graph = _mixed_graph()
    descriptors = graph.measurement_descriptors()
    # relu and relu_again share a configuration: one key for both.
    assert sorted(descriptor["op_type"] for descriptor in descriptors) == ["Add", "Relu"]
    table = {descriptor["cost_key"]: 0.5 + index for index, descriptor in enumerate(descriptors)}
    cost = graph.cost(cost_table=table)
    keys = {record["name"]: record["cost_key"] for record in cost["ops"]}
    assert keys["relu"] == keys["relu_again"]
    assert cost["runtime_ms"] == pytest.approx(table[keys["add"]] + 2 * table[keys["relu"]])


def test_missing_cost_key_raises_unless_fallback_is_asked():
    graph = _mixed_graph()
    descriptors = graph.measurement_descriptors()
    partial = {descriptors[0]["cost_key"]: 1.0}
    with pytest.raises(_engine.CostError, match="cost key '.*' is missing from the measured cost table \\(1 entries\\)"):
        graph.cost(cost_table=partial)
    mixed = graph.cost(device="cpu", cost_table=partial)
    analytic = graph.cost(device="cpu")
    measured_key = descriptors[0]["cost_key"]
    expected = sum(1.0 if record["cost_key"] == measured_key else record["runtime_ms"] for record in analytic["ops"])
    assert mixed["runtime_ms"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"device": "tpu"}, "unknown device profile 'tpu'; expected one of: cpu, h100, rtx2070, v100"),
        ({}, "needs a cost table or a device profile"),
        ({"cost_table": {"Relu(float32[1])->1{}": -1.0}}, "must be a number >= 0 ms"),
        ({"cost_table": {"k": float("nan")}}, "must be a number >= 0 ms"),
    ],
)
def test_bad_cost_requests_raise_cost_error(kwargs, message):
    with pytest.raises(_engine.CostError, match=message):
        _mixed_graph().cost(**kwargs)


def test_cost_keys_change_with_shapes_params_and_constant_values():
    relu_small = _single("Relu", [[2, 3]])
    relu_large = _single("Relu", [[2, 4]])
    leaky_a = _single("LeakyRelu", [[2, 3]], {"alpha": 0.1})
    leaky_b = _single("LeakyRelu", [[2, 3]], {"alpha": 0.2})
    keys = {graph.cost_key(graph.find_op("op")) for graph in (relu_small, relu_large, leaky_a, leaky_b)}
    assert len(keys) == 4
    assert relu_small.cost_key(relu_small.find_op("op")) == "Relu(float32[2,3])->1{}"


def test_descriptors_describe_runnable_single_op_models():
    """Every descriptor builds a one-node model (graphs/measure.py) whose outputs match the engine's types."""
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [1, 3, 8, 8])
    conv = graph.add_op("Conv", "conv", [(x, 0), (graph.add_weight("w", "float32", [4, 3, 3, 3]), 0)], {"pads": [1, 1, 1, 1]})
    norm = graph.add_op("BatchNormalization", "bn", [(conv, 0)] + [(graph.add_weight(f"bn{i}", "float32", [4]), 0) for i in range(4)])
    pool = graph.add_op("MaxPool", "pool", [(norm, 0)], {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1})
    starts = graph.add_weight("starts", "int64", [1], [1])
    ends = graph.add_weight("ends", "int64", [1], [-1])
    axes = graph.add_weight("axes", "int64", [1], [1])
    sliced = graph.add_op("Slice", "slice", [(pool, 0), (starts, 0), (ends, 0), (axes, 0)])
    reshape = graph.add_op("Reshape", "flat", [(sliced, 0), (graph.add_weight("shape", "int64", [2], [1, -1]), 0)])
    gemm = graph.add_op("Gemm", "fc", [(reshape, 0), (graph.add_weight("fc_weight", "float32", [5, 32]), 0)], {"transB": 1})
    graph.set_outputs([(gemm, 0, "y")])
    descriptors = graph.measurement_descriptors()
    assert [descriptor["op_type"] for descriptor in descriptors] == ["Conv", "BatchNormalization", "MaxPool", "Slice", "Gemm"]
    slice_descriptor = descriptors[3]
    assert slice_descriptor["constant_int_inputs"] == {1: [1], 2: [-1], 3: [1]}
    assert slice_descriptor["input_is_weight"] == [False, True, True, True]
    for descriptor in descriptors:
        model, feeds = measure.single_op_model(descriptor)
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        produced = session.run(None, feeds)[0]
        expected_dtype, expected_shape = graph.op(descriptor["op_index"])["output_types"][0]
        assert list(produced.shape) == expected_shape and str(produced.dtype) == expected_dtype
