"""The engine's runtime kernels (ops/engine/runtime_kernels.h) against onnxruntime itself.

The reference is independent: onnxruntime optimizes the exported model at
ORT_ENABLE_ALL and writes the graph it will run; its compute nodes (layout
and metadata nodes aside) are the kernels it launches. The engine must find
as many kernels, and of the same kinds, on the zoo graphs and on graphs that
random rewrites changed (merged convs, split layers, moved scales).
"""
from __future__ import annotations

import collections
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from rlgraph_xflow.graphs import export, load, zoo
from rlgraph_xflow.graphs.onnxruntime_session import import_onnxruntime
from rlgraph_xflow.graphs.substitutions import apply, load_rules
from rlgraph_xflow.ops import _engine
from rlgraph_xflow.graphs.zoo_builder import ONNX_IR_VERSION, ONNX_OPSET
from rlgraph_xflow.optimize.random_walk import random_walk

# Nodes onnxruntime runs that launch no kernel of their own (metadata, and the
# NCHWc layout reorders at the edges of a blocked region).
_NOT_KERNELS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "ReorderInput", "ReorderOutput"}


def onnxruntime_nodes(model: onnx.ModelProto, tmp_path) -> collections.Counter:
    """Op types of the nodes onnxruntime runs for the model, from the model it optimizes and saves."""
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = os.fspath(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    return collections.Counter(node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node)


def onnxruntime_kernels(model: onnx.ModelProto, tmp_path) -> collections.Counter:
    return collections.Counter({op_type: count for op_type, count in onnxruntime_nodes(model, tmp_path).items()
                                if op_type not in _NOT_KERNELS})


def assert_same_kernels_and_copies(graph, tmp_path) -> None:
    nodes = onnxruntime_nodes(export(graph), tmp_path)
    assert len(graph.engine.runtime_kernels()) == sum(count for op_type, count in nodes.items() if op_type not in _NOT_KERNELS)
    copies = collections.Counter(kind for kind, _, _ in graph.engine.runtime_reorders())
    assert (copies["ReorderInput"], copies["ReorderOutput"]) == (nodes["ReorderInput"], nodes["ReorderOutput"])


def engine_kernel_types(graph) -> list[list[str]]:
    return [[graph.engine.op(index)["type"] for index in kernel] for kernel in graph.engine.runtime_kernels()]


def _zoo(name: str):
    return zoo.build("bert_base", layers=1) if name == "bert_base_1" else zoo.build(name)


@pytest.mark.parametrize("name", ["squeezenet1_1", "resnet18", "bert_base_1"])
def test_kernels_are_the_nodes_onnxruntime_runs_on_zoo_graphs(name, tmp_path):
    model = _zoo(name)
    assert_same_kernels_and_copies(load(model), tmp_path)
    kernels = engine_kernel_types(load(model))
    reference = onnxruntime_kernels(model, tmp_path)
    assert len(kernels) == sum(reference.values())
    # Kind by kind: a Conv kernel is a Conv node, a Gelu's five ops one Gelu node, ...
    assert sum(types[0] == "Conv" for types in kernels) == reference["Conv"]
    assert sum(types == ["Div", "Erf", "Add", "Mul", "Mul"] for types in kernels) == reference.get("Gelu", 0)
    assert sum(types[-1] == "LayerNormalization" and len(types) > 1 for types in kernels) == reference.get("SkipLayerNormalization", 0)
    assert sum(types[0] == "Gemm" or (types[0] == "MatMul" and types[-1] == "Add") for types in kernels) == reference.get("Gemm", 0)


@pytest.mark.parametrize("name, seed", [("resnet18", 1), ("resnet18", 6), ("inception_v3", 1), ("bert_base_1", 0),
                                        ("bert_base_1", 2), ("bert_base_1", 3)])
def test_kernels_follow_rewrites_that_change_what_fuses(name, seed, tmp_path):
    # Random rewrites merge convs behind a Split (whose outputs leave
    # onnxruntime's blocked layout, so residual Adds stop fusing and layout
    # copies appear), move scales onto MatMul inputs, and break or keep GELU's chain.
    graph = random_walk(load(_zoo(name)), load_rules(), num_steps=15, seed=seed).graphs[-1]
    assert_same_kernels_and_copies(graph, tmp_path)


def _conv_model(conv_output_readers: int) -> onnx.ModelProto:
    """x -> Conv -> Relu, with the Conv's output also a graph output when asked (so it cannot fuse)."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [8, 8, 3, 3], np.ones(8 * 8 * 9, np.float32))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])]
    if conv_output_readers == 2:
        outputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 8, 16, 16]))
    graph = helper.make_graph(nodes, "conv_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16, 16])],
                              outputs, initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = ONNX_IR_VERSION
    return model


def test_a_tensor_read_outside_the_kernel_is_not_fused(tmp_path):
    fused, apart = load(_conv_model(1)), load(_conv_model(2))
    assert engine_kernel_types(fused) == [["Conv", "Relu"]]
    assert sorted(engine_kernel_types(apart)) == [["Conv"], ["Relu"]]
    assert sum(onnxruntime_kernels(_conv_model(2), tmp_path).values()) == 2


def test_an_engine_fused_activation_has_the_key_of_conv_then_relu():
    # fuse_conv_relu changes the engine graph but not what onnxruntime runs
    # (the export is Conv then Relu again), so the kernel and its key stay.
    rules = load_rules()
    graph = load(_conv_model(1))
    fused = apply(graph, rules, rules.find("fuse_conv_relu"), 0)
    assert [op["type"] for op in fused.engine.ops() if op["type"] not in ("Input", "Weight")] == ["Conv"]
    assert engine_kernel_types(fused) == [["Conv"]]
    # One kernel; the graph's edges also have one layout copy each way (its input is a graph input, its output one).
    before, after = (next(d for d in g.engine.kernel_descriptors() if "reorder" not in d) for g in (graph, fused))
    assert sorted(kind for kind, _, _ in graph.engine.runtime_reorders()) == ["ReorderInput", "ReorderOutput"]
    assert fused.engine.runtime_reorders() == [(kind, 2, text) for kind, _, text in graph.engine.runtime_reorders()]
    assert after["kernel_key"] == before["kernel_key"]
    copies = {"ReorderInput(float32[1,8,16,16])": 0.1, "ReorderOutput(float32[1,8,16,16])": 0.2}
    pricer = _engine.KernelPricer("test", {before["kernel_key"]: 0.5, **copies}, 0.01, 0.02)
    # kernel + its dispatch, two copies + theirs, one call
    assert pricer.runtime_ms(fused.engine) == pricer.runtime_ms(graph.engine) == pytest.approx(0.5 + 0.3 + 3 * 0.01 + 0.02)
