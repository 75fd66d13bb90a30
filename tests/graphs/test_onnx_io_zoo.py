"""Every zoo model loads fully modelled (no opaque op), exports, and gives the
same outputs in onnxruntime as the original; engine hash and serialization
survive the round trip. Each model is built once (module-scoped)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest

from rlgraph_xflow.graphs import export, load, zoo
from rlgraph_xflow.ops import _engine

MODELS = {
    "resnet18": {},
    "resnet50": {},
    "squeezenet1_1": {},
    "inception_v3": {},
    "bert_base": {"sequence_length": 16},
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def zoo_model(request):
    name = request.param
    model = zoo.build(name, batch_size=1, **MODELS[name])
    return name, model


def _feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(3)
    initializers = {tensor.name for tensor in model.graph.initializer}
    feeds = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape = [dim.dim_value for dim in value.type.tensor_type.shape.dim]
        if value.type.tensor_type.elem_type == onnx.TensorProto.INT64:
            feeds[value.name] = generator.integers(0, 100, size=shape).astype(np.int64)
        else:
            feeds[value.name] = generator.standard_normal(shape).astype(np.float32)
    return feeds


def _run(model: onnx.ModelProto, feeds):
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_zoo_model_round_trips(zoo_model):
    name, model = zoo_model
    graph = load(model)
    assert graph.opaque_ops == [], f"{name} must be fully modelled by the engine"
    exported = export(graph)
    feeds = _feeds(model)
    for want, got in zip(_run(model, feeds), _run(exported, feeds)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert load(exported).hash() == graph.hash()
    restored = _engine.Graph.from_bytes(graph.to_bytes())
    assert restored.hash() == graph.hash()
    cost = graph.cost(device="h100")
    assert cost.runtime_ms > 0 and cost.flops > 0 and cost.kernel_launches > 0
