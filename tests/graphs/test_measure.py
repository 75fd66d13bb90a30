"""Tests for the measured cost provider and its cache (rlgraph_xflow.graphs.measure, cost_cache)."""
import json
import os

import numpy as np
import onnx
import pytest

from rlgraph_xflow.graphs.measure import (
    CostCache,
    CostCacheError,
    default_cache_path,
    default_device_name,
    measure_op,
    single_op_model,
)
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session


def _descriptor(cost_key, op_type, input_shapes, attributes=None, input_is_weight=None, input_dtypes=None, constant_int_inputs=None, num_outputs=1):
    return {
        "cost_key": cost_key,
        "op_type": op_type,
        "attributes": attributes or {},
        "input_shapes": input_shapes,
        "input_dtypes": input_dtypes or ["float32"] * len(input_shapes),
        "input_is_weight": input_is_weight or [False] * len(input_shapes),
        "constant_int_inputs": constant_int_inputs or {},
        "num_outputs": num_outputs,
    }


def _conv(channels, size, cost_key=None):
    return _descriptor(
        cost_key or f"Conv|{channels}x{size}",
        "Conv",
        [[1, channels, size, size], [channels, channels, 3, 3]],
        attributes={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]},
        input_is_weight=[False, True],
    )


MATMUL = _descriptor("MatMul|64x128x256", "MatMul", [[64, 128], [128, 256]], input_is_weight=[False, True])
RELU = _descriptor("Relu|1x32x28x28", "Relu", [[1, 32, 28, 28]])
RESHAPE = _descriptor(
    "Reshape|1x32x28x28->32x784",
    "Reshape",
    [[1, 32, 28, 28], [2]],
    input_dtypes=["float32", "int64"],
    constant_int_inputs={"1": [32, -1]},  # a string key, as the descriptor arrives after JSON
)


@pytest.mark.parametrize("descriptor", [_conv(8, 16), MATMUL, RELU, RESHAPE], ids=lambda d: d["op_type"])
def test_measure_op_returns_positive_milliseconds(descriptor):
    milliseconds = measure_op(descriptor, runs=5, warmup=1)
    assert isinstance(milliseconds, float) and 0 < milliseconds < 1000


def test_a_big_convolution_takes_longer_than_a_tiny_one():
    # 128 channels at 56x56 is ~0.9 GFLOP against ~0.3 MFLOP: thousands of times the work.
    big = measure_op(_conv(128, 56), runs=7, warmup=2)
    tiny = measure_op(_conv(4, 8), runs=7, warmup=2)
    assert big > 5 * tiny


def test_single_op_model_computes_the_op_on_its_inputs():
    """The measured model really is the op: weights as initializers, the rest fed, checked against numpy."""
    model, feeds = single_op_model(MATMUL, seed=5)
    weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    assert list(feeds) == ["input0"] and list(weights) == ["weight1"]
    (output,) = create_cpu_session(model).run(None, feeds)
    np.testing.assert_allclose(output, feeds["input0"] @ weights["weight1"], rtol=1e-4, atol=1e-4)

    reshape, reshape_feeds = single_op_model(RESHAPE)
    constants = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in reshape.graph.initializer}
    assert constants["constant1"].tolist() == [32, -1] and constants["constant1"].dtype == np.int64
    assert [d.dim_value for d in reshape.graph.output[0].type.tensor_type.shape.dim] == [32, 784]


def test_gather_indices_stay_inside_the_table_and_attributes_are_coerced():
    gather = _descriptor("Gather|100x8|3x5", "Gather", [[100, 8], [3, 5]], attributes={"axis": 0}, input_is_weight=[True, False], input_dtypes=["float32", "int64"])
    _, feeds = single_op_model(gather)
    assert feeds["input1"].min() >= 0 and feeds["input1"].max() < 100 and len(np.unique(feeds["input1"])) > 5
    assert measure_op(gather, runs=3, warmup=1) > 0
    # JSON may carry alpha=1.0 as the int 1; the schema says FLOAT.
    leaky = _descriptor("LeakyRelu|8", "LeakyRelu", [[8]], attributes={"alpha": 1})
    model, _ = single_op_model(leaky)
    assert model.graph.node[0].attribute[0].type == onnx.AttributeProto.FLOAT
    split = _descriptor(
        "Split|1x64x8x8|32,32", "Split", [[1, 64, 8, 8], [2]], attributes={"axis": 1},
        input_dtypes=["float32", "int64"], constant_int_inputs={1: [32, 32]}, num_outputs=2,
    )
    model, feeds = single_op_model(split)
    assert [[d.dim_value for d in output.type.tensor_type.shape.dim] for output in model.graph.output] == [[1, 32, 8, 8]] * 2


@pytest.mark.parametrize(
    "change, pattern",
    [
        ({"op_type": "Convolution"}, r"'Convolution' is not an ONNX op type at opset 17"),
        ({"attributes": {"kernel_size": [3, 3]}}, r"Conv has no attribute 'kernel_size'; it has \[.*kernel_shape"),
        ({"attributes": {"kernel_shape": "3x3"}}, r"attribute 'kernel_shape' of Conv must be INTS, found '3x3'"),
        ({"input_dtypes": ["float32"]}, r"one entry per input, found 2, 1 and 2"),
        ({"input_dtypes": ["float32", "float99"]}, r"input_dtypes\[1\] is 'float99'"),
        ({"input_shapes": [[1, 8, 16, 16], [8, 8, "3", 3]]}, r"input_shapes\[1\] must be a list of ints"),
        ({"input_shapes": [[1, 8, 16, 16], [8, 5, 3, 3]]}, r"cost_key 'Conv\|8x16'.*onnxruntime cannot run the Conv node.*channels"),
        ({"num_outputs": 0}, r"'num_outputs' must be an int >= 1"),
        ({"constant_int_inputs": {"5": [1]}}, r"constant_int_inputs\[5\] names input 5, but the op has 2 inputs"),
        ({"constant_int_inputs": {"1": [1, 2]}}, r"constant_int_inputs\[1\] has 2 values, but input_shapes\[1\] is \[8, 8, 3, 3\]"),
    ],
)
def test_bad_descriptors_are_explained(change, pattern):
    descriptor = {**_conv(8, 16), **change}
    with pytest.raises(ValueError, match=pattern):
        measure_op(descriptor, runs=1, warmup=0)


def test_missing_keys_and_bad_settings_are_explained():
    broken = dict(RELU)
    del broken["num_outputs"]
    with pytest.raises(ValueError, match=r"cost_key 'Relu\|1x32x28x28'.*missing keys \['num_outputs'\]"):
        measure_op(broken)
    with pytest.raises(TypeError, match=r"op descriptor must be a dict, found list"):
        measure_op([RELU])
    with pytest.raises(ValueError, match=r"runs must be an int >= 1, found 0"):
        measure_op(RELU, runs=0)
    mismatched = dict(MATMUL, input_shapes=[[64, 128], [64, 256]])
    with pytest.raises(ValueError, match=r"cost_key 'MatMul\|64x128x256'.*ONNX rejects the MatMul node"):
        measure_op(mismatched)


# ------------------------------------------------------------------ CostCache
def test_cost_cache_round_trip_and_merge(tmp_path):
    path = tmp_path / "nested" / "costs.json"
    cache = CostCache(path)
    assert not path.exists()  # opening writes nothing
    assert cache.get("cpu", "Relu|1") is None
    cache.put("cpu", "Relu|1", 0.25)
    cache.put_many("gpu", {"Conv|1": 1.5, "Conv|2": 3})
    reopened = CostCache(path)
    assert reopened.get("cpu", "Relu|1") == 0.25
    assert reopened.entries("gpu") == {"Conv|1": 1.5, "Conv|2": 3.0}
    assert reopened.devices() == ["cpu", "gpu"] and len(reopened) == 3
    # A second writer's entries survive the first writer's next put.
    cache.put("cpu", "Relu|2", 0.5)
    reopened.put("cpu", "Relu|3", 0.75)
    assert CostCache(path).entries("cpu") == {"Relu|1": 0.25, "Relu|2": 0.5, "Relu|3": 0.75}
    document = json.loads(path.read_text())
    assert document["format"] == "rlgraph_xflow.cost_cache" and document["version"] == 1


def test_cost_cache_writes_atomically(tmp_path, monkeypatch):
    path = tmp_path / "costs.json"
    cache = CostCache(path)
    cache.put("cpu", "Relu|1", 0.25)
    before = path.read_bytes()

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        cache.put("cpu", "Relu|2", 0.5)
    monkeypatch.undo()
    # The old file is intact and no temporary file is left behind.
    assert path.read_bytes() == before
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["costs.json"]
    cache.put("cpu", "Relu|3", 0.5)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["costs.json"]


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("{not json", r"is not valid JSON"),
        ('{"devices": {}}', r"is not a cost cache"),
        ('{"format": "rlgraph_xflow.cost_cache", "version": 9, "devices": {}}', r"has version 9"),
        ('{"format": "rlgraph_xflow.cost_cache", "version": 1, "devices": {"cpu": {"Relu": -1}}}', r"devices\['cpu'\]\['Relu'\] must be a number >= 0"),
    ],
)
def test_a_corrupt_cache_file_is_an_error_naming_it(tmp_path, content, pattern):
    path = tmp_path / "costs.json"
    path.write_text(content)
    with pytest.raises(CostCacheError, match=rf"cost cache '{path}'.*{pattern}|{pattern}") as error:
        CostCache(path)
    assert str(path) in str(error.value) and "delete or move the file" in str(error.value)
    assert path.read_text() == content  # left untouched for the user to inspect


def test_bad_cache_arguments_are_explained(tmp_path):
    with pytest.raises(CostCacheError, match=r"is a folder"):
        CostCache(tmp_path)
    cache = CostCache(tmp_path / "costs.json")
    with pytest.raises(ValueError, match=r"device must be a non-empty string"):
        cache.put("", "Relu|1", 1.0)
    with pytest.raises(ValueError, match=r"cost of 'Relu\|1' on 'cpu' must be a finite number >= 0 ms, found nan"):
        cache.put("cpu", "Relu|1", float("nan"))
    with pytest.raises(ValueError, match=r"cost_key must be a non-empty string"):
        cache.put("cpu", "", 1.0)


def test_default_cache_path_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RLGRAPH_XFLOW_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_path() == tmp_path / "elsewhere" / "costs.json"
    monkeypatch.delenv("RLGRAPH_XFLOW_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / ".cache" / "rlgraph_xflow" / "costs.json"
    CostCache()  # opening the default cache creates nothing
    assert list(tmp_path.iterdir()) == []


def test_default_device_name_names_the_cpu_and_runtime():
    import onnxruntime

    name = default_device_name()
    assert name.endswith(f"onnxruntime-{onnxruntime.__version__}-cpu")
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        if models:
            assert name.startswith(models[0])
