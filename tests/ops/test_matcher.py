"""Locations and apply on hand-built graphs: validity (external uses, graph
outputs, cycles), order, dedup, dead-code elimination, typed errors; and a
brute-force check over zoo graphs that every listed location applies to a
distinct, valid graph."""
from __future__ import annotations

import numpy as np
import pytest

from rlgraph_xflow.graphs import export, load, zoo
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session
from rlgraph_xflow.graphs.substitutions import load_rules
from rlgraph_xflow.ops import _engine

LIBRARY = load_rules()


def xfer(name: str) -> int:
    index = LIBRARY.find(name)
    assert index >= 0, name
    return index


def conv_relu_graph(relu_outputs=("y",), expose_conv=False, side_reader=False):
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [1, 2, 5, 5])
    w = graph.add_weight("w", "float32", [3, 2, 3, 3])
    conv = graph.add_op("Conv", "conv", [(x, 0), (w, 0)], {"pads": [1, 1, 1, 1]})
    relu = graph.add_op("Relu", "relu", [(conv, 0)])
    outputs = [(relu, 0, relu_outputs[0])]
    if expose_conv:
        outputs.append((conv, 0, "conv_out"))
    if side_reader:
        side = graph.add_op("Sigmoid", "side", [(conv, 0)])
        outputs.append((side, 0, "side_out"))
    graph.set_outputs(outputs)
    return graph


def test_conv_relu_location_descriptor_and_apply():
    graph = conv_relu_graph()
    found = LIBRARY.locations(graph)
    assert found.counts[xfer("fuse_conv_relu")] == 1
    assert found.descriptors[xfer("fuse_conv_relu")] == [[graph.find_op("conv"), graph.find_op("relu")]]
    assert len(found.counts) == len(LIBRARY) and len(found.descriptors) == len(LIBRARY)
    result = LIBRARY.apply(graph, xfer("fuse_conv_relu"), 0)
    types = [op["type"] for op in result.ops()]
    assert types == ["Input", "Weight", "Conv"]
    fused = result.op(2)
    assert fused["params"] == {"pads": [1, 1, 1, 1], "activation": "relu"}
    assert result.outputs == [(2, 0, "y")]
    # The input graph is untouched.
    assert [op["type"] for op in graph.ops()] == ["Input", "Weight", "Conv", "Relu"]


@pytest.mark.parametrize("kwargs", [{"expose_conv": True}, {"side_reader": True}])
def test_intermediate_used_outside_the_pattern_blocks_the_match(kwargs):
    found = LIBRARY.locations(conv_relu_graph(**kwargs))
    assert found.counts[xfer("fuse_conv_relu")] == 0


def test_merge_that_would_create_a_cycle_is_not_a_location():
    # b's input depends on a's output: merging a and b into one conv on x is
    # impossible, but c (independent) can merge with either.
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [1, 2, 4, 4])
    w = [graph.add_weight(f"w{i}", "float32", [2, 2, 1, 1]) for i in range(3)]
    a = graph.add_op("Conv", "a", [(x, 0), (w[0], 0)])
    mixed = graph.add_op("Add", "mixed", [(x, 0), (a, 0)])
    b = graph.add_op("Conv", "b", [(mixed, 0), (w[1], 0)])
    c = graph.add_op("Conv", "c", [(x, 0), (w[2], 0)])
    graph.set_outputs([(b, 0, "yb"), (c, 0, "yc")])
    merge = xfer("merge_convs_shared_input")
    descriptors = LIBRARY.locations(graph).descriptors[merge]
    assert descriptors == [[a, c], [c, a]]
    # A weight computed from the other MatMul's output: merging the two
    # MatMuls on x would feed the merged op its own output.
    graph2 = _engine.Graph()
    x2 = graph2.add_input("x", "float32", [2, 2])
    w = graph2.add_weight("w", "float32", [2, 2])
    left = graph2.add_op("MatMul", "left", [(x2, 0), (w, 0)])
    derived = graph2.add_op("Transpose", "derived", [(left, 0)], {"perm": [1, 0]})
    right = graph2.add_op("MatMul", "right", [(x2, 0), (derived, 0)])
    graph2.set_outputs([(right, 0, "out"), (left, 0, "left_out")])
    assert LIBRARY.locations(graph2).counts[xfer("merge_matmuls_shared_input")] == 0



def test_a_variable_computed_from_the_match_is_allowed_when_no_target_op_reading_it_replaces_the_match():
    """GELU's Mul(x, 1 + erf(x / s)) next to the Div it depends on: the Mul's
    other input is computed from the matched Div, but the Div is replaced by a
    new Div of x alone, so the rewrite closes no cycle."""
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 3])
    scale = graph.add_weight("scale", "float32", [])
    one = graph.add_weight("one", "float32", [])
    divided = graph.add_op("Div", "divided", [(x, 0), (scale, 0)])
    error_function = graph.add_op("Erf", "erf", [(divided, 0)])
    shifted = graph.add_op("Add", "shifted", [(error_function, 0), (one, 0)])
    gated = graph.add_op("Mul", "gated", [(x, 0), (shifted, 0)])
    graph.set_outputs([(gated, 0, "y")])
    rescale = xfer("rescale_mul_input_by_sibling_div")
    assert LIBRARY.locations(graph).descriptors[rescale] == [[divided, gated]]

    rewritten = LIBRARY.apply(graph, rescale, 0)
    ops = rewritten.ops()
    for op in ops:
        assert all(producer < op["index"] for producer, _ in op["inputs"])
    erf = next(op for op in ops if op["name"] == "erf")
    new_divide = ops[erf["inputs"][0][0]]
    assert new_divide["type"] == "Div" and new_divide["inputs"][0][0] == x
    # The graph's output is now Mul(Mul(x / s, s), 1 + erf(x / s)).
    output = ops[rewritten.outputs[0][0]]
    restored = ops[output["inputs"][0][0]]
    assert output["type"] == "Mul" and restored["type"] == "Mul"
    assert ops[restored["inputs"][0][0]]["index"] == new_divide["index"]
    assert ops[output["inputs"][1][0]]["name"] == "shifted"

def test_locations_are_sorted_and_capped():
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [1, 2, 4, 4])
    outputs = []
    for i in range(4):
        w = graph.add_weight(f"w{i}", "float32", [2, 2, 1, 1])
        conv = graph.add_op("Conv", f"conv{i}", [(x, 0), (w, 0)])
        outputs.append((conv, 0, f"y{i}"))
    graph.set_outputs(outputs)
    merge = xfer("merge_convs_shared_input")
    descriptors = LIBRARY.locations(graph).descriptors[merge]
    assert len(descriptors) == 12 and descriptors == sorted(descriptors)
    capped = LIBRARY.locations(graph, max_locations=5)
    assert capped.counts[merge] == 5 and capped.descriptors[merge] == descriptors[:5]
    assert all(count <= 5 for count in capped.counts)
    with pytest.raises(_engine.ApplyError, match="max_locations must be >= 1"):
        LIBRARY.locations(graph, max_locations=0)


def test_matches_giving_the_same_graph_count_once():
    # Two identical unread Identity ops on x: removing either leaves the same
    # graph (one Identity), so only the first is a location. (Ordered inputs
    # and outputs make read duplicates give different graphs.)
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 3])
    first = graph.add_op("Identity", "first", [(x, 0)])
    graph.add_op("Identity", "second", [(x, 0)])
    relu = graph.add_op("Relu", "relu", [(x, 0)])
    graph.set_outputs([(relu, 0, "y")])
    remove = xfer("remove_identity")
    found = LIBRARY.locations(graph)
    assert found.counts[remove] == 1 and found.descriptors[remove] == [[first]]
    result = LIBRARY.apply(graph, remove, 0)
    assert [op["type"] for op in result.ops()] == ["Input", "Identity", "Relu"]
    # Read duplicates are distinct locations with distinct results.
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 3])
    first = graph.add_op("Identity", "first", [(x, 0)])
    second = graph.add_op("Identity", "second", [(x, 0)])
    total = graph.add_op("Add", "total", [(first, 0), (second, 0)])
    graph.set_outputs([(total, 0, "y")])
    assert LIBRARY.locations(graph).counts[remove] == 2
    assert LIBRARY.apply(graph, remove, 0).hash() != LIBRARY.apply(graph, remove, 1).hash()


def test_dead_ops_are_removed_but_graph_inputs_kept():
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 6])
    shape1 = graph.add_weight("shape1", "int64", [3], [2, 3, 2])
    shape2 = graph.add_weight("shape2", "int64", [2], [4, 3])
    first = graph.add_op("Reshape", "first", [(x, 0), (shape1, 0)])
    second = graph.add_op("Reshape", "second", [(first, 0), (shape2, 0)])
    graph.set_outputs([(second, 0, "y")])
    result = LIBRARY.apply(graph, xfer("fuse_reshapes"), 0)
    names = [op["name"] for op in result.ops()]
    assert "shape1" not in names and "shape2" not in names and "x" in names
    reshape = [op for op in result.ops() if op["type"] == "Reshape"]
    assert len(reshape) == 1 and reshape[0]["output_types"] == [("float32", [4, 3])]
    # Removing an Identity that reads a graph input keeps the input.
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2])
    copy = graph.add_op("Identity", "copy", [(x, 0)])
    graph.set_outputs([(copy, 0, "y")])
    result = LIBRARY.apply(graph, xfer("remove_identity"), 0)
    assert [op["type"] for op in result.ops()] == ["Input"] and result.outputs == [(0, 0, "y")]


def test_invalid_ids_raise_apply_error():
    graph = conv_relu_graph()
    with pytest.raises(_engine.ApplyError, match="xfer id 9999 is out of range"):
        LIBRARY.apply(graph, 9999, 0)
    with pytest.raises(_engine.ApplyError, match="xfer id -1 is out of range"):
        LIBRARY.apply(graph, -1, 0)
    with pytest.raises(_engine.ApplyError, match="location 1 of xfer .* has 1 locations"):
        LIBRARY.apply(graph, xfer("fuse_conv_relu"), 1)
    with pytest.raises(_engine.ApplyError, match="has 0 locations"):
        LIBRARY.apply(graph, xfer("fold_batchnorm_into_conv"), 0)
    with pytest.raises(_engine.ApplyError):
        LIBRARY.rule_name(len(LIBRARY))
    with pytest.raises(TypeError):
        LIBRARY.apply("not a graph", 0, 0)


def test_generated_constants_hash_by_value_not_name():
    # Fusing the same reshape pair built under different names gives equal hashes.
    def build(prefix):
        graph = _engine.Graph()
        x = graph.add_input("x", "float32", [2, 6])
        s1 = graph.add_weight("s1", "int64", [3], [2, 3, 2])
        s2 = graph.add_weight("s2", "int64", [2], [4, 3])
        first = graph.add_op("Reshape", prefix + "a", [(x, 0), (s1, 0)])
        second = graph.add_op("Reshape", prefix + "b", [(first, 0), (s2, 0)])
        graph.set_outputs([(second, 0, "y")])
        return LIBRARY.apply(graph, xfer("fuse_reshapes"), 0)

    left, right = build("p"), build("q")
    assert left.hash() == right.hash()
    restored = _engine.Graph.from_bytes(left.to_bytes())
    assert restored.hash() == left.hash()


@pytest.fixture(scope="module", params=["resnet18", "squeezenet1_1"])
def zoo_graph(request):
    return load(zoo.build(request.param))


def test_every_zoo_location_applies_to_a_distinct_valid_graph(zoo_graph):
    """Brute force: dedup by match key equals dedup by result hash on the zoo."""
    found = LIBRARY.locations(zoo_graph.engine)
    assert sum(found.counts) > 0
    hashes = set()
    for xfer_id, count in enumerate(found.counts):
        for location in range(count):
            result = LIBRARY.apply(zoo_graph.engine, xfer_id, location)
            digest = result.hash()
            assert digest not in hashes, f"duplicate result: {LIBRARY.rule_name(xfer_id)} location {location}"
            hashes.add(digest)
            # Topological order, outputs preserved, a re-serializable graph.
            for op in result.ops():
                assert all(producer < op["index"] for producer, _ in op["inputs"])
            assert [name for _, _, name in result.outputs] == [name for _, _, name in zoo_graph.engine.outputs]
            _engine.Graph.from_bytes(result.to_bytes())


def test_applied_zoo_rewrites_keep_outputs_in_onnxruntime(zoo_graph):
    from rlgraph_xflow.graphs.substitutions import apply, locations

    found = locations(zoo_graph, LIBRARY)
    rng = np.random.default_rng(0)
    feeds = {info.name: rng.standard_normal(info.shape).astype(np.float32) for info in zoo_graph.inputs}
    expected = create_cpu_session(export(zoo_graph)).run(None, feeds)
    for xfer_id, count in enumerate(found.counts):
        if count == 0:
            continue
        rewritten = apply(zoo_graph, LIBRARY, xfer_id, count - 1)
        actual = create_cpu_session(export(rewritten)).run(None, feeds)
        for want, got in zip(expected, actual):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(want).max())))


def test_conv_activation_parameter_is_checked():
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [1, 2, 4, 4])
    w = graph.add_weight("w", "float32", [2, 2, 1, 1])
    with pytest.raises(_engine.GraphError, match="'activation' must be \"relu\""):
        graph.add_op("Conv", "conv", [(x, 0), (w, 0)], {"activation": "tanh"})
    fused = graph.add_op("Conv", "fused", [(x, 0), (w, 0)], {"activation": "relu"})
    plain = graph.add_op("Conv", "plain", [(x, 0), (w, 0)])
    graph.set_outputs([(fused, 0, "a"), (plain, 0, "b")])
    cost = {op["name"]: op for op in graph.cost(device="h100")["ops"]}
    # One kernel, priced like the plain conv.
    assert cost["fused"]["flops"] == cost["plain"]["flops"] and cost["fused"]["kernel_launches"] == 1

