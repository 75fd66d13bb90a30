"""The measured cost model: kernel models, kernel timing, tables by device, and choosing a cost source."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from rlgraph_xflow.graphs import CostError, load, zoo
from rlgraph_xflow.graphs.cost_cache import CostCache
from rlgraph_xflow.graphs.cost_models import resolve_cost_source
from rlgraph_xflow.graphs.kernel_costs import (
    CALIBRATED_AT_KEY,
    CALIBRATION_LOAD_KEY,
    PER_CALL_KEY,
    PER_KERNEL_KEY,
    REFERENCE_KEY,
    MeasuredCostModel,
    ReferenceKernel,
    kernel_model,
    local_device_name,
    measure_kernel,
    paired_ratio,
)
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session
from rlgraph_xflow.graphs.substitutions import greedy, load_rules
from rlgraph_xflow.graphs.zoo_builder import ONNX_IR_VERSION, ONNX_OPSET


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = ONNX_IR_VERSION
    return model


def _gelu_graph():
    """x -> MatMul -> GELU (erf form) -> output: two kernels, the second GELU's five ops."""
    rng = np.random.default_rng(0)
    constants = [
        onnx.numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "w"),
        onnx.numpy_helper.from_array(np.array(math.sqrt(2.0), np.float32), "sqrt2"),
        onnx.numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        onnx.numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Div", ["h", "sqrt2"], ["d"]),
        helper.make_node("Erf", ["d"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["a"]),
        helper.make_node("Mul", ["h", "a"], ["m"]),
        helper.make_node("Mul", ["m", "half"], ["y"]),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])], constants)


def _gelu_reference(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf)
    return x * 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


def test_kernel_model_computes_the_kernels_ops_on_one_shared_input():
    graph = load(_gelu_graph())
    gelu = next(descriptor for descriptor in graph.engine.kernel_descriptors() if len(descriptor["members"]) == 5)
    assert not any("reorder" in descriptor for descriptor in graph.engine.kernel_descriptors())  # no Conv: no layout copies
    model, feeds = kernel_model(gelu, seed=3)
    # x feeds both the Div and the first Mul: one graph input, as in the real graph.
    assert list(feeds) == ["input0"]
    constants = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    divisor, one, half = (float(constants[name]) for name in ("m0_weight1", "m2_weight1", "m4_weight1"))
    x = feeds["input0"].astype(np.float64)
    erf = np.vectorize(math.erf)
    expected = x * (erf(x / divisor) + one) * half
    [output] = create_cpu_session(model).run(None, feeds)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_measure_kernel_times_more_work_as_more_time():
    def conv(channels, size):
        graph = load(_model(
            [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, size, size])],
            [onnx.numpy_helper.from_array(np.ones((channels, channels, 3, 3), np.float32), "w")],
        ))
        [descriptor] = [d for d in graph.engine.kernel_descriptors() if "reorder" not in d]
        return descriptor

    small, large = measure_kernel(conv(8, 8), runs=5, warmup=1), measure_kernel(conv(64, 56), runs=5, warmup=1)
    assert 0 < small < large and large > 20 * small


def test_layout_copies_are_timed_by_their_tensor():
    copy = {"kernel_key": "ReorderOutput(float32[1,64,56,56])", "members": [], "member_inputs": [],
            "reorder": "ReorderOutput", "reorder_shape": [1, 64, 56, 56], "reorder_dtype": "float32"}
    small = {**copy, "kernel_key": "ReorderOutput(float32[1,64,7,7])", "reorder_shape": [1, 64, 7, 7]}
    assert measure_kernel(copy, runs=5, warmup=1) > measure_kernel(small, runs=5, warmup=1) > 0
    with pytest.raises(ValueError, match="expected a float32 4-D"):
        measure_kernel({**copy, "reorder_shape": [64, 56]})


def test_paired_ratio_cancels_a_slowdown_that_hits_both_kernels():
    quiet_kernel, quiet_reference = [2.0, 2.1, 1.9, 2.0, 2.0], [1.0, 1.05, 0.95, 1.0, 1.0]
    # Runs 2-4 happen while something else takes a core: both take 2.5x as long.
    slowed = [2.5 if 1 <= run <= 3 else 1.0 for run in range(5)]
    loaded_kernel = [time * factor for time, factor in zip(quiet_kernel, slowed)]
    loaded_reference = [time * factor for time, factor in zip(quiet_reference, slowed)]
    assert paired_ratio(quiet_kernel, quiet_reference) == pytest.approx(2.0)
    assert paired_ratio(loaded_kernel, loaded_reference) == pytest.approx(2.0)
    # Unpaired, the median of the kernel's own times would move to 4.75.
    assert sorted(loaded_kernel)[2] == pytest.approx(4.75)
    with pytest.raises(ValueError, match="same non-zero length"):
        paired_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="must be > 0"):
        paired_ratio([1.0], [0.0])


def test_a_kernel_paired_with_its_own_reference_costs_the_references_time():
    reference = ReferenceKernel(milliseconds=0.25)
    [conv] = [d for d in load(reference.model).engine.kernel_descriptors() if "reorder" not in d]
    # The same Conv and Relu, run in turns with the reference: the ratio is
    # about 1 whatever the machine is doing, so the cost is the calibrated time.
    assert measure_kernel(conv, runs=9, warmup=2, reference=reference) == pytest.approx(0.25, rel=0.35)
    with pytest.raises(ValueError, match="not calibrated"):
        measure_kernel(conv, reference=ReferenceKernel())
    with pytest.raises(ValueError, match="must be > 0"):
        ReferenceKernel(milliseconds=0.0)


def test_measure_kernel_rejects_bad_arguments():
    [descriptor] = [d for d in load(_gelu_graph()).engine.kernel_descriptors() if len(d["members"]) == 1]
    with pytest.raises(ValueError, match="runs must be an int >= 1"):
        measure_kernel(descriptor, runs=0)
    with pytest.raises(ValueError, match="member_inputs"):
        kernel_model({"kernel_key": "k", "members": [], "member_inputs": []})
    broken = {**descriptor, "member_inputs": [[(-1, 0)]]}
    with pytest.raises(ValueError, match="has 2 inputs but 1 wiring"):
        kernel_model(broken)


def test_measured_model_keeps_its_table_and_prices_by_kernels(tmp_path):
    cache = CostCache(tmp_path / "costs.json")
    graph = load(_gelu_graph())
    model = MeasuredCostModel(cache=cache, runs=3, warmup=1)
    priced = model.price(graph)
    assert model.measured_count == 2 and priced["kernel_launches"] == 2
    table = CostCache(tmp_path / "costs.json").entries(local_device_name())
    per_kernel, per_call = table[PER_KERNEL_KEY], table[PER_CALL_KEY]
    kernels = {key: value for key, value in table.items() if not key.startswith("#")}
    # The total is the kernels' times plus the runtime's fixed costs, and
    # GELU's five ops cost nothing apart from their kernel.
    assert priced["runtime_ms"] == pytest.approx(sum(kernels.values()) + 2 * per_kernel + per_call)
    assert sum(op["runtime_ms"] > 0 for op in priced["ops"]) == 2
    again = MeasuredCostModel(cache=CostCache(tmp_path / "costs.json"))
    assert again.runtime_ms(graph) == pytest.approx(priced["runtime_ms"]) and again.measured_count == 0
    # The table keeps its scale and says when and under what load it was calibrated.
    assert table[REFERENCE_KEY] > 0 and table[CALIBRATION_LOAD_KEY] >= 0 and table[CALIBRATED_AT_KEY] > 1.7e9
    assert again.reference.milliseconds == table[REFERENCE_KEY]
    assert "load average" in again.describe_conditions()


def _other_machine_table(tmp_path, graph, drop: int = 0):
    """A table 'measured elsewhere': this graph's kernel keys with made-up costs, maybe some left out."""
    descriptors = graph.engine.kernel_descriptors()
    costs = {descriptor["kernel_key"]: 0.1 * (position + 1) for position, descriptor in enumerate(descriptors[drop:])}
    path = tmp_path / "gpu_table.json"
    CostCache(path).put_many("cuda:TEST_GPU", {**costs, PER_KERNEL_KEY: 0.005, PER_CALL_KEY: 0.02})
    return path, costs


def test_a_table_from_another_device_prices_without_measuring(tmp_path):
    graph = load(_gelu_graph())
    path, costs = _other_machine_table(tmp_path, graph)
    source = resolve_cost_source("measured", "cuda:TEST_GPU", path)
    assert source.device == "cuda:TEST_GPU" and not source.measured.local
    assert source.runtime_ms(graph) == pytest.approx(sum(costs.values()) + 2 * 0.005 + 0.02)
    assert "cuda:TEST_GPU" in source.describe() and "estimate" in source.describe()


def test_a_kernel_missing_from_another_devices_table_is_an_error_naming_it(tmp_path):
    graph = load(_gelu_graph())
    path, _ = _other_machine_table(tmp_path, graph, drop=1)
    missing = graph.engine.kernel_descriptors()[0]["kernel_key"]
    source = resolve_cost_source("measured", None, path)
    with pytest.raises(CostError, match="missing from the cost table of device 'cuda:TEST_GPU'") as raised:
        source.runtime_ms(graph)
    assert missing in str(raised.value)


@pytest.mark.parametrize("arguments, message", [
    (("analytic", "h200"), "unknown device 'h200' for the analytic cost model"),
    (("measured", "cuda:NOWHERE"), "no kernel table for device 'cuda:NOWHERE'"),
    (("roofline", None), "unknown cost model 'roofline'"),
    (("analytic", "h100", "table.json"), "use it with --cost-model measured"),
    (("measured", None, "does_not_exist.json"), "does not exist"),
    (("measured", "cuda:OTHER", "TABLE"), r"records device\(s\) \['cuda:TEST_GPU'\], not 'cuda:OTHER'"),
    (("measured", "local", "TABLE"), "not this machine"),
])
def test_bad_cost_sources_get_one_clear_error(arguments, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = _other_machine_table(tmp_path, load(_gelu_graph()))
    arguments = tuple(path if argument == "TABLE" else argument for argument in arguments)
    with pytest.raises(CostError, match=message):
        resolve_cost_source(*arguments)


def test_a_cost_table_that_is_not_one_is_an_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CostError, match="not valid JSON"):
        resolve_cost_source("measured", None, bad)


def test_greedy_on_measured_costs_reaches_what_the_pricer_says(tmp_path):
    model = MeasuredCostModel(cache=CostCache(tmp_path / "costs.json"), runs=3, warmup=1)
    graph = load(zoo.build("squeezenet1_1"))
    result = greedy(graph, load_rules(), kernel_pricer=model.pricer)
    assert result.initial_cost == pytest.approx(model.runtime_ms(graph))
    assert result.final_cost == pytest.approx(model.runtime_ms(result.graph)) and result.final_cost <= result.initial_cost
