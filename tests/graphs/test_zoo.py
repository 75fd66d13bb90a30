"""Tests for the model zoo (rlgraph_xflow.graphs.zoo) and the Keras export.

Each zoo model is built once per module and run once in onnxruntime. Expected
op counts are derived from the published architectures, parameter counts are
torchvision's / Hugging Face's published numbers, and the Keras export is
compared with the Keras model's own output.
"""
import collections
import os
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import pytest

from rlgraph_xflow.graphs import zoo
from rlgraph_xflow.graphs.keras_export import keras_application
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session

ALLOWED_OPS = {
    "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Sigmoid", "Tanh", "Erf", "Pow", "Sqrt", "Softmax",
    "Add", "Mul", "Sub", "Div", "Concat", "Split", "Slice", "Pad", "Gather", "Reshape", "Transpose", "Flatten",
    "Squeeze", "Unsqueeze", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "LayerNormalization",
    "Identity", "Dropout", "Constant",
}

BERT_BATCH, BERT_SEQUENCE = 2, 16

# The op counts follow from the architectures:
#  resnet18: stem conv + 8 basic blocks x 2 convs + 3 downsample convs; relu after the
#            stem, inside each block and after each addition.
#  resnet50: stem conv + 16 bottlenecks x 3 convs + 4 downsample convs.
#  inception_v3: stem 5 + 3 InceptionA x 7 + InceptionB 4 + 4 InceptionC x 10 + InceptionD 6
#            + 2 InceptionE x 9 = 94 BasicConv2d; 11 block concats + 2 inner concats in each E;
#            average pools in A (3), C (4), E (2); max pools: 2 in the stem, one in B and D.
#  squeezenet1_1: stem + 8 Fire x 3 + classifier conv, each with a ReLU; 3 max pools.
#  bert_base: per layer Q, K, V, scores, context, attention output, intermediate, output
#            MatMuls; one Softmax and Erf; two LayerNorms, plus the embeddings' one.
EXPECTED_OP_COUNTS = {
    "resnet18": {"Conv": 1 + 8 * 2 + 3, "BatchNormalization": 20, "Add": 8, "Relu": 1 + 8 * 2, "Gemm": 1, "MaxPool": 1},
    "resnet50": {"Conv": 1 + 16 * 3 + 4, "BatchNormalization": 53, "Add": 16, "Relu": 1 + 16 * 3, "Gemm": 1, "MaxPool": 1},
    "inception_v3": {
        "Conv": 5 + 3 * 7 + 4 + 4 * 10 + 6 + 2 * 9,
        "BatchNormalization": 94,
        "Relu": 94,
        "Concat": 11 + 2 * 2,
        "AveragePool": 3 + 4 + 2,
        "MaxPool": 4,
        "Gemm": 1,
    },
    "squeezenet1_1": {"Conv": 1 + 8 * 3 + 1, "Relu": 26, "Concat": 8, "MaxPool": 3, "BatchNormalization": 0},
    "bert_base": {"MatMul": 12 * 8, "Softmax": 12, "Erf": 12, "LayerNormalization": 1 + 12 * 2, "Gather": 3},
}

# Published trainable-parameter counts: torchvision's models (inception_v3 without
# its training-only auxiliary classifier: 27,161,264 - 3,326,696) and Hugging Face's
# bert-base BertModel (109,482,240) without its pooler (590,592).
EXPECTED_PARAMETERS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "inception_v3": 27_161_264 - 3_326_696,
    "squeezenet1_1": 1_235_496,
    "bert_base": 109_482_240 - 590_592,
}


def _build(name):
    if name == "bert_base":
        return zoo.build(name, batch_size=BERT_BATCH, sequence_length=BERT_SEQUENCE, attention_mask=True)
    return zoo.build(name)


@pytest.fixture(scope="module", params=zoo.names())
def built(request):
    """(name, model, session, feeds, outputs) for each zoo model, built and run once."""
    name = request.param
    model = _build(name)
    session = create_cpu_session(model)
    generator = np.random.default_rng(1)
    feeds = {}
    for value in session.get_inputs():
        if value.type == "tensor(int64)":
            feeds[value.name] = generator.integers(0, 30522, size=value.shape).astype(np.int64)
        elif value.name == "attention_mask":
            feeds[value.name] = np.ones(value.shape, dtype=np.float32)
        else:
            feeds[value.name] = generator.standard_normal(value.shape).astype(np.float32)
    outputs = session.run(None, feeds)
    yield name, model, session, feeds, outputs


def _trainable_parameters(model):
    count = 0
    for initializer in model.graph.initializer:
        if initializer.data_type != onnx.TensorProto.FLOAT or initializer.name.startswith("constant."):
            continue
        if initializer.name.endswith(("running_mean", "running_var")):
            continue
        count += int(np.prod(initializer.dims))
    return count


def test_model_passes_the_full_onnx_check(built):
    name, model, *_ = built
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17


def test_output_shape_and_values_are_finite(built):
    name, model, session, feeds, outputs = built
    expected = [BERT_BATCH, BERT_SEQUENCE, 768] if name == "bert_base" else [1, 1000]
    assert len(outputs) == 1
    assert list(outputs[0].shape) == expected
    assert np.all(np.isfinite(outputs[0]))
    # Random weights must still give an informative output, not a constant or an explosion.
    assert 1e-3 < float(np.std(outputs[0])) < 1e3


def test_op_counts_match_the_architecture(built):
    name, model, *_ = built
    counts = collections.Counter(node.op_type for node in model.graph.node)
    for op_type, expected in EXPECTED_OP_COUNTS[name].items():
        assert counts[op_type] == expected, f"{name}: {op_type}"
    assert set(counts) <= ALLOWED_OPS


def test_parameter_count_matches_the_published_model(built):
    name, model, *_ = built
    assert _trainable_parameters(model) == EXPECTED_PARAMETERS[name]


def test_bert_attention_mask_hides_padded_tokens(built):
    name, model, session, feeds, outputs = built
    if name != "bert_base":
        return
    mask = np.ones((BERT_BATCH, BERT_SEQUENCE), dtype=np.float32)
    mask[:, -4:] = 0.0
    first = dict(feeds, attention_mask=mask)
    second_ids = feeds["input_ids"].copy()
    second_ids[:, -4:] = (second_ids[:, -4:] + 1234) % 30522
    second = dict(feeds, attention_mask=mask, input_ids=second_ids)
    first_output = session.run(None, first)[0]
    second_output = session.run(None, second)[0]
    # Tokens that attend only to unmasked positions cannot see the changed padding...
    np.testing.assert_allclose(first_output[:, :-4], second_output[:, :-4], rtol=0, atol=1e-5)
    # ...while the padded positions themselves do change.
    assert np.abs(first_output[:, -4:] - second_output[:, -4:]).max() > 1e-2
    # And without the mask every position sees the change.
    unmasked = session.run(None, dict(feeds, input_ids=second_ids))[0]
    assert np.abs(unmasked[:, :-4] - outputs[0][:, :-4]).max() > 1e-3


def test_bert_inputs_follow_the_options(built):
    name, model, *_ = built
    if name != "bert_base":
        return
    inputs = {value.name: value for value in model.graph.input}
    assert set(inputs) == {"input_ids", "attention_mask"}
    assert inputs["input_ids"].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_value for d in inputs["input_ids"].type.tensor_type.shape.dim] == [BERT_BATCH, BERT_SEQUENCE]


def test_fewer_bert_layers_are_the_first_layers_of_bert_base():
    """layers=2 keeps the embeddings and the first two encoder layers, op for op and weight for weight, and ends
    where the 12-layer model's third layer would begin; it runs in onnxruntime."""
    full = zoo.build("bert_base", sequence_length=8)
    small = zoo.build("bert_base", sequence_length=8, layers=2)

    def layer_of(name):
        return int(name.split(".")[2]) if name.startswith("encoder.layer.") else None

    kept = [node for node in full.graph.node if layer_of(node.name) is None or layer_of(node.name) < 2]
    assert [node.SerializeToString() for node in small.graph.node[:-1]] == [node.SerializeToString() for node in kept[:-1]]
    assert small.graph.node[-1].op_type == "Identity" and small.graph.node[-1].input[0].startswith("encoder.layer.1.")
    per_layer = sum(1 for node in full.graph.node if layer_of(node.name) == 0)
    assert len(full.graph.node) - len(small.graph.node) == 10 * per_layer
    full_weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in full.graph.initializer}
    for tensor in small.graph.initializer:
        assert np.array_equal(onnx.numpy_helper.to_array(tensor), full_weights[tensor.name]), tensor.name
    (output,) = create_cpu_session(small).run(None, {"input_ids": np.arange(8, dtype=np.int64)[None]})
    assert output.shape == (1, 8, 768) and np.isfinite(output).all()


def test_batch_size_and_image_size_options_are_honoured():
    model = zoo.build("squeezenet1_1", batch_size=3, image_size=96)
    session = create_cpu_session(model)
    image = np.random.default_rng(0).standard_normal((3, 3, 96, 96)).astype(np.float32)
    (output,) = session.run(None, {"input": image})
    assert output.shape == (3, 1000)
    resnet = zoo.build("resnet18", batch_size=2, image_size=64, num_classes=10)
    assert [d.dim_value for d in resnet.graph.output[0].type.tensor_type.shape.dim] == [2, 10]


def test_same_seed_gives_identical_bytes_and_a_new_seed_new_weights():
    first = zoo.build("resnet18", image_size=32)
    again = zoo.build("resnet18", image_size=32)
    other = zoo.build("resnet18", image_size=32, seed=1)
    assert first.SerializeToString() == again.SerializeToString()
    assert [node.SerializeToString() for node in first.graph.node] == [node.SerializeToString() for node in other.graph.node]
    first_weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in first.graph.initializer}
    other_weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in other.graph.initializer}
    assert first_weights.keys() == other_weights.keys()
    assert all(not np.array_equal(first_weights[name], other_weights[name]) for name in first_weights)


def test_unknown_name_lists_valid_names_and_suggests_one():
    with pytest.raises(ValueError, match=r"unknown model 'resnet5'.*resnet18.*Did you mean 'resnet50'"):
        zoo.build("resnet5")


@pytest.mark.parametrize(
    "arguments, error, pattern",
    [
        (dict(name="resnet18", depth=3), ValueError, r"unknown option 'depth'.*image_size"),
        (dict(name="resnet18", batch_size=0), ValueError, r"batch_size must be at least 1, found 0"),
        (dict(name="resnet18", batch_size=1.5), TypeError, r"batch_size must be an int, found float"),
        (dict(name="bert_base", sequence_length="64"), TypeError, r"option 'sequence_length' must be int"),
        (dict(name="bert_base", sequence_length=513), ValueError, r"sequence_length must be in 1..512, found 513"),
        (dict(name="bert_base", layers=0), ValueError, r"layers must be in 1..12, found 0"),
        (dict(name="bert_base", layers=13), ValueError, r"layers must be in 1..12, found 13"),
        (dict(name="bert_base", layers=2.0), TypeError, r"option 'layers' must be int"),
        (dict(name="inception_v3", image_size=32), ValueError, r"inception_v3.*Mixed_6a.*too small"),
    ],
)
def test_bad_build_arguments_are_explained(arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        zoo.build(**arguments)


def test_importing_the_zoo_imports_no_tensorflow_and_writes_nothing_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    environment = {key: value for key, value in os.environ.items() if key not in ("KERAS_HOME", "ORT_DISABLE_TELEMETRY")}
    environment["HOME"] = str(home)
    code = "import sys, rlgraph_xflow.graphs.zoo, rlgraph_xflow.graphs.verify, rlgraph_xflow.graphs.measure; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
    assert list(home.iterdir()) == []


# ----------------------------------------------------------------- from_keras
KERAS_OPTIONS = dict(input_size=96, alpha=0.35, classifier_activation=None)


@pytest.fixture(scope="module")
def keras_export(tmp_path_factory):
    """MobileNetV2 (alpha 0.35, 96x96) exported with from_keras, with KERAS_HOME unset."""
    previous = os.environ.pop("KERAS_HOME", None)
    try:
        model = zoo.from_keras("MobileNetV2", batch_size=2, seed=3, **KERAS_OPTIONS)
        keras_home = os.environ.get("KERAS_HOME")
    finally:
        if previous is None:
            os.environ.pop("KERAS_HOME", None)
        else:
            os.environ["KERAS_HOME"] = previous
    return model, keras_home, previous


def test_from_keras_matches_the_keras_model(keras_export):
    model, *_ = keras_export
    onnx.checker.check_model(model)
    assert model.opset_import[0].version == 17 or any(opset.version == 17 for opset in model.opset_import if opset.domain in ("", "ai.onnx"))
    reference = keras_application("MobileNetV2", seed=3, **KERAS_OPTIONS)
    images = np.random.default_rng(0).standard_normal((2, 96, 96, 3)).astype(np.float32)
    expected = np.asarray(reference(images, training=False))
    session = create_cpu_session(model)
    (found,) = session.run(None, {session.get_inputs()[0].name: images})
    assert found.shape == (2, 1000)
    # Random-init Keras models have tiny activations; compare relative to their scale.
    scale = float(np.abs(expected).max())
    assert scale > 0
    assert float(np.abs(found - expected).max()) <= 1e-4 * scale
    # The two images must give different logits, or the comparison would be vacuous.
    assert float(np.abs(expected[0] - expected[1]).max()) > 1e-2 * scale


def test_from_keras_keeps_keras_out_of_home(keras_export):
    _, keras_home, previous = keras_export
    if previous is None:
        assert keras_home is not None
        assert not pathlib.Path(keras_home).resolve().is_relative_to(pathlib.Path.home().resolve())


@pytest.mark.parametrize(
    "name, options, pattern",
    [
        ("MobileNetV3", {}, r"unknown keras application 'MobileNetV3'.*Did you mean"),
        ("MobileNetV2", {"input_size": (96,)}, r"input_size must be an int or a \(height, width\) pair"),
        ("MobileNetV2", {"batch_size": 0}, r"batch_size must be an int >= 1, found 0"),
        ("MobileNetV2", {"input_size": 16}, r"keras.applications.MobileNetV2.*failed"),
    ],
)
def test_from_keras_rejects_bad_arguments(keras_export, name, options, pattern):
    with pytest.raises(ValueError, match=pattern):
        zoo.from_keras(name, **options)
