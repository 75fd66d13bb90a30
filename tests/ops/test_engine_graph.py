"""The engine graph IR through the pybind module: construction errors, the
canonical hash, and binary serialization (round trip and corrupt bytes)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from rlgraph_xflow.ops import _engine


def _block(order: str = "forward", conv_name: str = "conv", strides=(1, 1), weight_shape=(8, 3, 3, 3)):
    """input -> Conv -> Relu, plus an independent Sigmoid branch; both outputs.

    order="reverse" adds the leaves and the two branches in the opposite order.
    """
    graph = _engine.Graph()
    leaves = [("input", "x", [1, 3, 8, 8]), ("weight", "w", list(weight_shape)), ("weight", "b", [weight_shape[0]])]
    if order == "reverse":
        leaves.reverse()
    index = {}
    for kind, name, shape in leaves:
        add = graph.add_input if kind == "input" else graph.add_weight
        index[name] = add(name, "float32", shape)

    def conv_branch():
        index["conv"] = graph.add_op(
            "Conv", conv_name, [(index["x"], 0), (index["w"], 0), (index["b"], 0)], {"pads": [1, 1, 1, 1], "strides": list(strides)}
        )
        index["relu"] = graph.add_op("Relu", conv_name + "_relu", [(index["conv"], 0)])

    def sigmoid_branch():
        index["sigmoid"] = graph.add_op("Sigmoid", "side", [(index["x"], 0)])

    branches = [conv_branch, sigmoid_branch]
    if order == "reverse":
        branches.reverse()
    for branch in branches:
        branch()
    graph.set_outputs([(index["relu"], 0, "y"), (index["sigmoid"], 0, "z")])
    return graph


# ------------------------------------------------------------------ construction


def test_ops_record_params_edges_and_inferred_types():
    graph = _block()
    conv = graph.op(graph.find_op("conv"))
    assert conv["type"] == "Conv"
    assert conv["params"] == {"pads": [1, 1, 1, 1], "strides": [1, 1]}
    assert conv["inputs"] == [(graph.find_op("x"), 0), (graph.find_op("w"), 0), (graph.find_op("b"), 0)]
    assert conv["output_types"] == [("float32", [1, 8, 8, 8])]
    assert conv["output_names"] == ["conv:0"]
    assert graph.outputs == [(graph.find_op("conv_relu"), 0, "y"), (graph.find_op("side"), 0, "z")]
    assert graph.find_op("missing") == -1


def test_params_keep_their_kinds():
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 3])
    params = {"alpha": 0.25, "count": np.int64(3), "ints": [1, -2], "floats": [0.5, 2], "text": "SAME_UPPER", "empty": []}
    index = graph.add_op("LeakyRelu", "leaky", [(x, 0)], params)
    stored = graph.op(index)["params"]
    assert stored == {"alpha": 0.25, "count": 3, "ints": [1, -2], "floats": [0.5, 2.0], "text": "SAME_UPPER", "empty": []}
    assert isinstance(stored["count"], int) and isinstance(stored["floats"][1], float)


def test_copy_shares_ops_and_stays_independent():
    graph = _block()
    copy = graph.copy()
    copy.add_op("Tanh", "extra", [(copy.find_op("side"), 0)])
    assert len(copy) == len(graph) + 1
    assert graph.find_op("extra") == -1
    assert copy.op(copy.find_op("conv")) == graph.op(graph.find_op("conv"))


BAD_CONSTRUCTIONS = [
    (lambda g: g.add_input("x", "float32", [1]), "duplicate op name 'x'"),
    (lambda g: g.add_input("", "float32", [1]), "non-empty"),
    (lambda g: g.add_input("y", "float33", [1]), "unknown dtype 'float33'; expected one of: float32"),
    (lambda g: g.add_input("y", "float32", [2, -1]), "negative dimension"),
    (lambda g: g.add_op("Relu", "r", [(7, 0)]), "refers to op #7 but the graph has only 1 ops"),
    (lambda g: g.add_op("Relu", "r", [(0, 1)]), "reads output 1 of op 'x' \\(Input\\), which has 1 outputs"),
    (lambda g: g.add_op("NoSuchOp", "r", [(0, 0)]), "unknown op type 'NoSuchOp'; supported types: Add"),
    (lambda g: g.add_op("Add", "r", [(0, 0)]), "expected 2..2 inputs, got 1"),
    (lambda g: g.add_op("Relu", "r", [(0, 0)], num_outputs=2), "expected 1..1 outputs, got 2"),
    (lambda g: g.add_op("Conv", "r", [(-1, 0), (0, 0)]), "input 0 is required but was omitted"),
    (lambda g: g.add_op("Relu", "r", [(0, 0)], {"bad": {"a": 1}}), "parameter 'bad' must be int, float, str"),
    (lambda g: g.add_op("Relu", "r", [(0, 0)], {"bad": [1, "a"]}), "list items must be ints or floats"),
    (lambda g: g.add_op("Relu", "r", [(0, 0)], output_names=["a", "b"]), "got 2 output names for 1 outputs"),
    (lambda g: g.add_op("Input", "r", []), "dedicated Input/Weight/Constant/Opaque constructors"),
    (lambda g: g.add_weight("w", "int64", [2], [1, 2, 3]), "got 3 int values for shape \\[2\\]"),
    (lambda g: g.add_opaque("o", "", "", b"", [(0, 0)], [("float32", [1])]), "ONNX op type of an opaque op"),
    (lambda g: g.set_outputs([(0, 3, "out")]), "graph output 'out' refers to op #0 output 3"),
    (lambda g: g.set_outputs([(0, 0, "")]), "graph output names must be non-empty"),
]


@pytest.mark.parametrize("build, message", BAD_CONSTRUCTIONS)
def test_bad_construction_raises_graph_error(build, message):
    graph = _engine.Graph()
    graph.add_input("x", "float32", [1, 3, 4, 4])
    with pytest.raises(_engine.GraphError, match=message):
        build(graph)
    assert issubclass(_engine.GraphError, ValueError)


def test_op_lookup_out_of_range_raises_index_error():
    with pytest.raises(IndexError, match="op index 5 out of range for a graph of 0 ops"):
        _engine.Graph().op(5)


def test_small_integer_weights_carry_values_and_large_ones_do_not():
    graph = _engine.Graph()
    small = graph.add_weight("small", "int64", [2], [4, -1])
    large = graph.add_weight("large", "int64", [_engine.MAX_INT_VALUES + 1], list(range(_engine.MAX_INT_VALUES + 1)))
    floats = graph.add_weight("floats", "float32", [2], [1, 2])
    assert graph.op(small)["params"] == {"int_values": [4, -1]}
    assert graph.op(large)["params"] == {}
    assert graph.op(floats)["params"] == {}


# ------------------------------------------------------------------ hash


def test_equal_graphs_built_in_different_orders_hash_equal():
    forward, reverse = _block("forward"), _block("reverse")
    assert [op["name"] for op in forward.ops()] != [op["name"] for op in reverse.ops()]
    assert forward.hash() == reverse.hash()


def test_hash_ignores_names_of_computed_ops():
    assert _block(conv_name="conv").hash() == _block(conv_name="renamed").hash()


def test_changing_one_parameter_or_weight_shape_changes_the_hash():
    base = _block().hash()
    assert _block(strides=(2, 2)).hash() != base
    assert _block(weight_shape=(4, 3, 3, 3)).hash() != base


def test_output_order_and_dead_ops_enter_the_hash():
    graph = _block()
    swapped = _block()
    outputs = swapped.outputs
    swapped.set_outputs([outputs[1], outputs[0]])
    assert swapped.hash() != graph.hash()
    with_dead_op = _block()
    with_dead_op.add_op("Tanh", "dead", [(with_dead_op.find_op("x"), 0)])
    assert with_dead_op.hash() != graph.hash()


def test_hashes_of_distinct_configurations_are_distinct():
    """Brute force over 240 Conv configurations: no two share a hash."""
    hashes = set()
    configurations = list(itertools.product([1, 2, 3], [0, 1], [1, 2], [4, 8], [1, 2], [(1, 1), (2, 2), (1, 2), (3, 3), (2, 1)]))
    for stride, pad, dilation, filters, group, kernel in configurations[:240]:
        graph = _engine.Graph()
        x = graph.add_input("x", "float32", [1, 4, 16, 16])
        w = graph.add_weight("w", "float32", [filters, 4 // group, *kernel])
        conv = graph.add_op(
            "Conv", "c", [(x, 0), (w, 0)],
            {"strides": [stride, stride], "pads": [pad] * 4, "dilations": [dilation, dilation], "group": group},
        )
        graph.set_outputs([(conv, 0, "y")])
        hashes.add(graph.hash())
    assert len(hashes) == 240


def test_op_hashes_follow_content_not_position():
    forward, reverse = _block("forward"), _block("reverse")
    by_name_forward = dict(zip((op["name"] for op in forward.ops()), forward.op_hashes()))
    by_name_reverse = dict(zip((op["name"] for op in reverse.ops()), reverse.op_hashes()))
    assert by_name_forward == by_name_reverse


# ------------------------------------------------------------------ serialization


def _rich_graph():
    """Every parameter kind, an omitted input, an opaque op, int values, two outputs."""
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 6, 4])
    shape = graph.add_weight("shape", "int64", [2], [0, -1])
    low = graph.add_constant("low", "float32", [])
    split = graph.add_op("Split", "split", [(x, 0)], {"axis": 1}, num_outputs=2, output_names=["left", "right"])
    clip = graph.add_op("Clip", "clip", [(split, 1), (low, 0)])
    leaky = graph.add_op("LeakyRelu", "leaky", [(clip, 0)], {"alpha": 0.1})
    layer_norm = graph.add_op("LayerNormalization", "norm", [(leaky, 0), (graph.add_weight("scale", "float32", [4]), 0)],
                              {"epsilon": 1e-5, "axis": -1})
    reshape = graph.add_op("Reshape", "reshape", [(layer_norm, 0), (shape, 0)])
    opaque = graph.add_opaque("lrn", "LRN", "", b"\x00\xffbinary", [(split, 0), (-1, 0)], [("float32", [2, 3, 4])])
    pad = graph.add_op("Pad", "pad", [(opaque, 0), (graph.add_weight("pads", "int64", [6], [0, 0, 1, 0, 0, 1]), 0)],
                       {"mode": "constant"})
    graph.set_outputs([(reshape, 0, "flat"), (pad, 0, "padded")])
    return graph


def test_serialization_round_trip_is_exact():
    graph = _rich_graph()
    data = graph.to_bytes()
    restored = _engine.Graph.from_bytes(data)
    assert restored.hash() == graph.hash()
    assert restored.ops() == graph.ops()
    assert restored.outputs == graph.outputs
    assert restored.to_bytes() == data
    assert restored.op(restored.find_op("lrn"))["params"]["node_proto"] == b"\x00\xffbinary"


def test_serialization_is_compact():
    graph = _rich_graph()
    text_size = len(repr(graph.ops()))
    assert len(graph.to_bytes()) < text_size / 2


def test_every_truncation_raises_serialization_error():
    data = _rich_graph().to_bytes()
    for length in range(len(data)):
        with pytest.raises(_engine.SerializationError):
            _engine.Graph.from_bytes(data[:length])


def test_every_flipped_byte_raises_serialization_error():
    data = bytearray(_rich_graph().to_bytes())
    for position in range(len(data)):
        corrupt = bytearray(data)
        corrupt[position] ^= 0x5A
        with pytest.raises(_engine.SerializationError):
            _engine.Graph.from_bytes(bytes(corrupt))


def _checksum(body: bytes) -> bytes:
    """FNV-1a 64 with a SplitMix64 finish, as documented in ops/engine/hash.cc."""
    mask = (1 << 64) - 1
    value = 0xCBF29CE484222325
    for byte in body:
        value = ((value ^ byte) * 0x100000001B3) & mask
    value ^= len(body)
    value = (value + 0x9E3779B97F4A7C15) & mask
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & mask
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & mask
    value ^= value >> 31
    return value.to_bytes(8, "little")


def test_bytes_with_valid_checksum_but_invalid_graph_are_refused():
    data = _rich_graph().to_bytes()
    body = data[:-8].replace(b"LeakyRelu", b"LeakyReLU")
    with pytest.raises(_engine.SerializationError, match="invalid graph: .*unknown op type 'LeakyReLU'"):
        _engine.Graph.from_bytes(body + _checksum(body))
    # A stored output type that inference disagrees with is refused too:
    # Split's first output float32[2,3,4] (dtype 1, rank 3, zigzag dims 4 6 8,
    # name "left") is rewritten as [2,4,4].
    stored = b"\x01\x03\x04\x06\x08\x04left"
    assert data.count(stored) == 1
    body = data[:-8].replace(stored, b"\x01\x03\x04\x08\x08\x04left")
    with pytest.raises(_engine.SerializationError, match="stored output 0 type float32\\[2,4,4\\] differs from the inferred"):
        _engine.Graph.from_bytes(body + _checksum(body))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a serialized graph"),
        (b"PK\x03\x04 definitely not a graph", "not a serialized graph"),
        (b"XFLOWGRAPH\x07" + bytes(16), "unsupported graph format version 7"),
        (b"XFLOWGRAPH\x01" + bytes(16), "checksum"),
    ],
)
def test_foreign_bytes_raise_serialization_error(data, message):
    with pytest.raises(_engine.SerializationError, match=message):
        _engine.Graph.from_bytes(data)


def test_bytes_with_valid_checksum_and_huge_counts_fail_cleanly():
    body = b"XFLOWGRAPH\x01" + b"\xff\xff\xff\xff\x0f"
    with pytest.raises(_engine.SerializationError, match="count 4294967295 exceeds"):
        _engine.Graph.from_bytes(body + _checksum(body))
