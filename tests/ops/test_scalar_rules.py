"""The scalar rules of ops/rules/scalar.rules beyond their examples (which
tests/ops/test_rules_equivalence.py runs): their rank conditions refuse a
scalar whose rank would change an output's shape, and on bert_base they
carry attention's 1/sqrt(d) into the key projection's weights and GELU's 0.5
into the next dense layer's weights, removing one launch per moved scalar
without changing the outputs in onnxruntime."""
from __future__ import annotations

import pytest

from rlgraph_xflow.graphs import export, load, zoo
from rlgraph_xflow.graphs.substitutions import apply, greedy, load_rules, locations
from rlgraph_xflow.graphs.latency import LatencyProtocol
from rlgraph_xflow.graphs.verify import verify
from rlgraph_xflow.ops import _engine

LIBRARY = load_rules()
# The h100 profile's launch overhead (ops/engine/device_profiles.cc).
LAUNCH_MS = 0.005
# The verifications here compare outputs; one timed run of each model is enough.
ONE_RUN = LatencyProtocol(rounds=1, runs_per_round=1, warmup=0)
ATTENTION = "encoder.layer.0.attention.self."


def xfer(name: str) -> int:
    index = LIBRARY.find(name)
    assert index >= 0, f"no rule {name}"
    return index


# ------------------------------------------------------------ rank conditions


def scalar_then_layout(layout: str, scalar_shape: list[int]) -> _engine.Graph:
    """Transpose or Reshape (to one axis) of Div(x, s), x float32[2,3]."""
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 3])
    scalar = graph.add_weight("scalar", "float32", scalar_shape)
    divided = graph.add_op("Div", "divided", [(x, 0), (scalar, 0)])
    rank = max(2, len(scalar_shape))
    if layout == "Transpose":
        moved = graph.add_op("Transpose", "moved", [(divided, 0)], {"perm": list(reversed(range(rank)))})
    else:
        shape = graph.add_weight("shape", "int64", [1], int_values=[6])
        moved = graph.add_op("Reshape", "moved", [(divided, 0), (shape, 0)])
    graph.set_outputs([(moved, 0, "y")])
    return graph


def layout_then_scalar(layout: str, scalar_shape: list[int]) -> _engine.Graph:
    """Mul(Transpose(x) or Reshape(x) to one axis, s), x float32[2,3]."""
    graph = _engine.Graph()
    x = graph.add_input("x", "float32", [2, 3])
    if layout == "Transpose":
        moved = graph.add_op("Transpose", "moved", [(x, 0)], {"perm": [1, 0]})
    else:
        shape = graph.add_weight("shape", "int64", [1], int_values=[6])
        moved = graph.add_op("Reshape", "moved", [(x, 0), (shape, 0)])
    scalar = graph.add_weight("scalar", "float32", scalar_shape)
    scaled = graph.add_op("Mul", "scaled", [(moved, 0), (scalar, 0)])
    graph.set_outputs([(scaled, 0, "y")])
    return graph


def scalar_on_vector_matmul_input(scalar_shape: list[int], scaled_input: int, op_type: str) -> _engine.Graph:
    """MatMul(a, b) for a float32[4] and b float32[4,5], with input `scaled_input` passed through op_type(., s)."""
    graph = _engine.Graph()
    a = graph.add_input("a", "float32", [4])
    b = graph.add_weight("b", "float32", [4, 5])
    scalar = graph.add_weight("scalar", "float32", scalar_shape)
    operands = [(a, 0), (b, 0)]
    operands[scaled_input] = (graph.add_op(op_type, "scaled", [operands[scaled_input], (scalar, 0)]), 0)
    product = graph.add_op("MatMul", "product", operands)
    graph.set_outputs([(product, 0, "y")])
    return graph


def scalar_on_dot_product_operand(scalar_shape: list[int]) -> _engine.Graph:
    """MatMul(a, Div(b, s)) for vectors a, b float32[4]: a rank-0 result."""
    graph = _engine.Graph()
    a = graph.add_input("a", "float32", [4])
    b = graph.add_input("b", "float32", [4])
    scalar = graph.add_weight("scalar", "float32", scalar_shape)
    divided = graph.add_op("Div", "divided", [(b, 0), (scalar, 0)])
    product = graph.add_op("MatMul", "product", [(a, 0), (divided, 0)])
    graph.set_outputs([(product, 0, "y")])
    return graph


# (rule, graph builder, a scalar shape the rule must refuse); each refusal
# would otherwise give a differently shaped output (see each builder).
RANK_CASES = [
    ("move_scalar_div_after_transpose", lambda shape: scalar_then_layout("Transpose", shape), [1, 1, 1]),
    ("move_scalar_div_after_reshape", lambda shape: scalar_then_layout("Reshape", shape), [1, 1, 1]),
    ("move_scalar_mul_before_transpose", lambda shape: layout_then_scalar("Transpose", shape), [1, 1, 1]),
    # rank(s) == rank(x) but > rank(Reshape(x)): the Mul would add an axis.
    ("move_scalar_mul_before_reshape", lambda shape: layout_then_scalar("Reshape", shape), [1, 1]),
    ("move_scalar_mul_from_matmul_first_input_to_second", lambda shape: scalar_on_vector_matmul_input(shape, 0, "Mul"), [1, 1]),
    ("move_scalar_div_from_matmul_second_input_to_first", lambda shape: scalar_on_vector_matmul_input(shape, 1, "Div"), [1, 1]),
    ("unfold_scalar_div_from_matmul", scalar_on_dot_product_operand, [1]),
]


@pytest.mark.parametrize("rule,build,refused_shape", RANK_CASES, ids=[case[0] for case in RANK_CASES])
def test_a_scalar_of_too_high_rank_is_refused(rule, build, refused_shape):
    accepted = LIBRARY.locations(build([]))
    assert accepted.counts[xfer(rule)] == 1, f"{rule} does not match its rank-0 control graph"
    refused = build(refused_shape)
    assert LIBRARY.locations(refused).counts[xfer(rule)] == 0, f"{rule} matched a scalar of shape {refused_shape}"


def test_distributing_a_high_rank_scalar_keeps_the_output_type():
    """Add(a, b) / s with s float32[1,1,1] and a, b of rank 1 and 2: the result has s's rank, before and after."""
    graph = _engine.Graph()
    a = graph.add_input("a", "float32", [4])
    b = graph.add_input("b", "float32", [2, 4])
    scalar = graph.add_weight("scalar", "float32", [1, 1, 1])
    total = graph.add_op("Add", "total", [(a, 0), (b, 0)])
    divided = graph.add_op("Div", "divided", [(total, 0), (scalar, 0)])
    graph.set_outputs([(divided, 0, "y")])
    rewritten = LIBRARY.apply(graph, xfer("distribute_scalar_div_over_add"), 0)
    assert sorted(op["type"] for op in rewritten.ops() if op["type"] in ("Add", "Div")) == ["Add", "Div", "Div"]
    final = [op for op in rewritten.ops() if op["type"] == "Add"]
    assert final[0]["output_types"] == [("float32", [1, 2, 4])]


def integer_or_float_division_chain(dtype: str) -> _engine.Graph:
    """Transpose(Add(MatMul(a, w), b) / s) of `dtype` tensors: the Div meets an Add, a MatMul and a Transpose."""
    graph = _engine.Graph()
    a = graph.add_input("a", dtype, [2, 3])
    w = graph.add_weight("w", dtype, [3, 4])
    b = graph.add_weight("b", dtype, [4])
    scalar = graph.add_weight("scalar", dtype, [])
    product = graph.add_op("MatMul", "product", [(a, 0), (w, 0)])
    total = graph.add_op("Add", "total", [(product, 0), (b, 0)])
    divided = graph.add_op("Div", "divided", [(total, 0), (scalar, 0)])
    moved = graph.add_op("Transpose", "moved", [(divided, 0)], {"perm": [1, 0]})
    graph.set_outputs([(moved, 0, "y")])
    return graph


def test_integer_division_crosses_layout_ops_but_not_add_or_matmul():
    """Integer division truncates: (a + b) / s != a / s + b / s (e.g. (1 + 1) / 2 against 1 / 2 + 1 / 2 = 0)."""
    arithmetic = ["distribute_scalar_div_over_add"]
    layout = ["move_scalar_div_after_transpose"]
    floats = LIBRARY.locations(integer_or_float_division_chain("float32")).counts
    integers = LIBRARY.locations(integer_or_float_division_chain("int64")).counts
    for rule in arithmetic + layout:
        assert floats[xfer(rule)] >= 1, f"{rule} does not match the float32 graph"
    for rule in arithmetic:
        assert integers[xfer(rule)] == 0, f"{rule} matched integer division"
    for rule in layout:
        assert integers[xfer(rule)] >= 1, f"{rule} (exact for every type) does not match the int64 graph"
    divided_product = _engine.Graph()
    a = divided_product.add_input("a", "int32", [2, 3])
    w = divided_product.add_weight("w", "int32", [3, 4])
    scalar = divided_product.add_weight("scalar", "int32", [])
    product = divided_product.add_op("MatMul", "product", [(a, 0), (w, 0)])
    divided = divided_product.add_op("Div", "divided", [(product, 0), (scalar, 0)])
    divided_product.set_outputs([(divided, 0, "y")])
    assert LIBRARY.locations(divided_product).counts[xfer("fold_scalar_div_into_matmul")] == 0


# ------------------------------------------------------------ bert_base


@pytest.fixture(scope="module")
def bert():
    """bert_base at sequence length 16 (the search problem is the same as at 64; the graphs are smaller)."""
    return load(zoo.build("bert_base", sequence_length=16))


def op_names(graph, op_indices) -> list[str]:
    return [graph.engine.op(index)["name"] for index in op_indices]


def apply_at(graph, rule: str, op_name: str):
    """Applies `rule` at its location whose matched ops include `op_name`."""
    index = xfer(rule)
    for location, matched in enumerate(locations(graph, LIBRARY).descriptors[index]):
        if op_name in op_names(graph, matched):
            return apply(graph, LIBRARY, index, location)
    raise AssertionError(f"{rule} has no location matching {op_name}")


def launched_ops(graph, op_type: str) -> int:
    return sum(1 for op in graph.cost(device="h100").ops if op.op_type == op_type and op.kernel_launches > 0)


def test_attention_scale_reaches_the_key_weights_and_gelu_half_the_output_weights(bert):
    before = bert.cost(device="h100")
    scores_divide = next(op for op in before.ops if op.name == ATTENTION + "scores.Div")
    # Four cost-neutral steps (no launch added) take the scale from the scores to the key projection's output.
    graph = bert
    for rule, op_name in (
        ("fold_scalar_div_into_matmul", ATTENTION + "scores.Div"),
        ("move_scalar_div_before_transpose", ATTENTION + "key_heads.Transpose"),
        ("move_scalar_div_before_reshape", ATTENTION + "key_heads.Reshape"),
        ("distribute_scalar_div_over_add", ATTENTION + "key.Add"),
    ):
        graph = apply_at(graph, rule, op_name)
        assert graph.cost(device="h100").kernel_launches == before.kernel_launches, rule
    graph = apply_at(graph, "fold_scalar_div_into_matmul", ATTENTION + "key.MatMul")
    after = graph.cost(device="h100")

    assert graph.engine.find_op(ATTENTION + "scores.Div") == -1
    softmax = graph.engine.op(graph.engine.find_op(ATTENTION + "Softmax"))
    scores = graph.engine.op(softmax["inputs"][0][0])
    assert scores["type"] == "MatMul", f"the softmax reads a {scores['type']}, not the scores' MatMul"
    assert graph.engine.op(scores["inputs"][0][0])["name"] == ATTENTION + "query_heads.Transpose"
    assert launched_ops(graph, "Div") == launched_ops(bert, "Div") - 1
    assert after.kernel_launches == before.kernel_launches - 1
    # The key's divided weight and bias are constants (free): the graph lost exactly the scores' Div.
    assert before.runtime_ms - after.runtime_ms == pytest.approx(scores_divide.runtime_ms, rel=1e-9)
    assert LAUNCH_MS <= scores_divide.runtime_ms < 1.01 * LAUNCH_MS

    # GELU's Mul(gated, 0.5) into the output dense layer's weight, same layer.
    gelu_half = "encoder.layer.0.intermediate.gelu.Mul_half"
    graph = apply_at(graph, "move_scalar_mul_from_matmul_first_input_to_second", gelu_half)
    assert graph.engine.find_op(gelu_half) == -1
    assert graph.cost(device="h100").kernel_launches == before.kernel_launches - 2

    result = verify(export(bert), export(graph), protocol=ONE_RUN)
    assert result.equal, result.outputs


def test_greedy_moves_every_gelu_half_into_a_weight(bert):
    result = greedy(bert, LIBRARY)
    moved = result.applied.count("move_scalar_mul_from_matmul_first_input_to_second")
    assert moved == 12
    assert not [op for op in result.graph.engine.ops() if op["name"].endswith("gelu.Mul_half")]
    launches = bert.cost(device="h100").kernel_launches - result.graph.cost(device="h100").kernel_launches
    # Each of the 12 layers: Q/K/V merged (six launches become three) and the 0.5 folded (one launch).
    assert launches == 12 * (3 + 1)


def apply_at_new_op(graph, rule: str, name_prefix: str):
    """Applies `rule` at its location whose matched ops include one a rewrite created, named `name_prefix`..."""
    index = xfer(rule)
    for location, matched in enumerate(locations(graph, LIBRARY).descriptors[index]):
        if any(name.startswith(name_prefix) for name in op_names(graph, matched)):
            return apply(graph, LIBRARY, index, location)
    raise AssertionError(f"{rule} has no location matching an op named {name_prefix}...")


def test_gelu_scale_reaches_the_dense_weights_through_one_dearer_step(bert):
    """GELU reads x in Div(x, sqrt 2) and in Mul(x, 1 + erf(.)): the Div folds into
    the dense layer before it only after the Mul reads x / sqrt 2, which costs a Mul."""
    gelu = "encoder.layer.0.intermediate."
    launches = bert.cost(device="h100").kernel_launches
    steps = [
        (apply_at, "rescale_mul_input_by_sibling_div", gelu + "gelu.Mul", +1),
        (apply_at_new_op, "move_scalar_mul_after_mul", "rescale_mul_input_by_sibling_div.restored", 0),
        (apply_at, "move_scalar_mul_from_matmul_first_input_to_second", gelu + "gelu.Mul_half", -1),
        (apply_at_new_op, "move_scalar_mul_from_matmul_first_input_to_second", "move_scalar_mul_after_mul.result", -1),
        (apply_at, "distribute_scalar_div_over_add", gelu + "dense.Add", 0),
        (apply_at, "fold_scalar_div_into_matmul", gelu + "dense.MatMul", -1),
    ]
    graph = bert
    for place, rule, name, change in steps:
        graph = place(graph, rule, name)
        now = graph.cost(device="h100").kernel_launches
        assert now == launches + change, f"{rule}: {now - launches:+d} launches, expected {change:+d}"
        launches = now
    assert graph.cost(device="h100").kernel_launches == bert.cost(device="h100").kernel_launches - 2

    # The Erf now reads the dense layer's output directly (its Div is in the weights).
    engine = graph.engine
    erf = engine.op(engine.find_op(gelu + "gelu.Erf"))
    producer = engine.op(erf["inputs"][0][0])
    assert producer["type"] == "Add", f"the Erf reads a {producer['type']}"
    assert "MatMul" in [engine.op(op)["type"] for op, _ in producer["inputs"]]
    assert launched_ops(graph, "Div") == launched_ops(bert, "Div") - 1

    result = verify(export(bert), export(graph), protocol=ONE_RUN)
    assert result.equal, result.outputs


def test_rescale_and_its_reverse_refuse_integer_division():
    def sibling_graph(dtype: str, with_restore: bool) -> _engine.Graph:
        graph = _engine.Graph()
        x = graph.add_input("x", dtype, [2, 3])
        scalar = graph.add_weight("scalar", dtype, [])
        divided = graph.add_op("Div", "divided", [(x, 0), (scalar, 0)])
        if with_restore:
            product = graph.add_op("Mul", "restored", [(divided, 0), (scalar, 0)])
        else:
            product = graph.add_op("Mul", "product", [(x, 0), (x, 0)])
        graph.set_outputs([(divided, 0, "quotient"), (product, 0, "y")])
        return graph

    for rule, with_restore in (("rescale_mul_input_by_sibling_div", False), ("cancel_scalar_div_then_mul", True)):
        assert LIBRARY.locations(sibling_graph("float32", with_restore)).counts[xfer(rule)] >= 1, rule
        # 7 / 2 * 2 = 6 in integers: the rewrite would change the value.
        assert LIBRARY.locations(sibling_graph("int64", with_restore)).counts[xfer(rule)] == 0, rule


# ------------------------------------------------------------ merged dense layers


def merged_dense_with_divided_part(part: int, sizes: list[int], dtype: str = "float32") -> _engine.Graph:
    """Split(MatMul(x, Concat(w1, w2, w3)) + Concat(b1, b2, b3), sizes) with weights of 2, 3 and 2
    columns, and part `part` divided by a scalar."""
    graph = _engine.Graph()
    x = graph.add_input("x", dtype, [2, 4])
    columns = [2, 3, 2]
    weights = [graph.add_weight(f"w{i}", dtype, [4, width]) for i, width in enumerate(columns)]
    biases = [graph.add_weight(f"b{i}", dtype, [width]) for i, width in enumerate(columns)]
    weight = graph.add_op("Concat", "weights", [(w, 0) for w in weights], {"axis": -1})
    bias = graph.add_op("Concat", "biases", [(b, 0) for b in biases], {"axis": -1})
    merged = graph.add_op("MatMul", "merged", [(x, 0), (weight, 0)])
    biased = graph.add_op("Add", "biased", [(merged, 0), (bias, 0)])
    split_sizes = graph.add_weight("sizes", "int64", [3], int_values=sizes)
    parts = graph.add_op("Split", "parts", [(biased, 0), (split_sizes, 0)], {"axis": -1}, num_outputs=3,
                         output_names=["p0", "p1", "p2"])
    scalar = graph.add_weight("scalar", dtype, [])
    divided = graph.add_op("Div", "divided", [(parts, part), (scalar, 0)])
    outputs = [(parts, index, f"y{index}") for index in range(3) if index != part] + [(divided, 0, "divided")]
    graph.set_outputs(outputs)
    return graph


@pytest.mark.parametrize("part", [0, 1, 2])
def test_a_divided_part_of_a_merged_dense_layer_folds_only_into_its_own_columns(part):
    rule = f"fold_scalar_div_into_three_way_merged_dense_part{part}"
    counts = LIBRARY.locations(merged_dense_with_divided_part(part, [2, 3, 2])).counts
    assert counts[xfer(rule)] == 1
    others = [f"fold_scalar_div_into_three_way_merged_dense_part{other}" for other in range(3) if other != part]
    assert [counts[xfer(other)] for other in others] == [0, 0]
    # Split sizes that are not the weights' column counts: a part would mix two weights' columns.
    assert LIBRARY.locations(merged_dense_with_divided_part(part, [3, 2, 2])).counts[xfer(rule)] == 0
    # (a + b) / s != a / s + b / s in integer division.
    assert LIBRARY.locations(merged_dense_with_divided_part(part, [2, 3, 2], "int64")).counts[xfer(rule)] == 0


def test_attention_scale_reaches_the_merged_key_weights_after_greedy(bert):
    """Greedy merges Q, K and V first (the largest immediate reward); the scale still folds into the key's columns."""
    merged = greedy(bert, LIBRARY).graph
    launches = merged.cost(device="h100").kernel_launches
    graph = merged
    for rule, op_name in (
        ("fold_scalar_div_into_matmul", ATTENTION + "scores.Div"),
        ("move_scalar_div_before_transpose", ATTENTION + "key_heads.Transpose"),
        ("move_scalar_div_before_reshape", ATTENTION + "key_heads.Reshape"),
    ):
        graph = apply_at(graph, rule, op_name)
        assert graph.cost(device="h100").kernel_launches == launches, rule
    graph = apply_at_new_op(graph, "fold_scalar_div_into_three_way_merged_dense_part1", "move_scalar_div_before_reshape.moved")
    assert graph.cost(device="h100").kernel_launches == launches - 1
    assert launched_ops(graph, "Div") == launched_ops(merged, "Div") - 1
    result = verify(export(bert), export(graph), protocol=ONE_RUN)
    assert result.equal, result.outputs
