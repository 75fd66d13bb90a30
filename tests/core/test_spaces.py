"""Tests of rlgraph_xflow.core.spaces: every space type, its checks and its specs.

Groups in this file:
  construction errors of every space type;
  contains / mismatch (shape, rank, dtype, bounds, batch and time ranks);
  sample and zeros (values lie in the space, seeds reproduce, leading ranks);
  flatten / flatten_value / unflatten round trips through nested containers;
  with_ranks, equality and hashing;
  GraphSpace: samples checked against graph_nets.utils_np and an independent
    per-graph consistency check, and mismatch catching each inconsistency;
  space_from_spec for every type and for bad specs (errors name the key path);
  tensor_spec (the only part that needs TensorFlow).

Tests whose assertion message starts with "BUG:" expose a defect found while
writing them; they are meant to fail until the module is fixed.
"""
from __future__ import annotations

import numpy as np
import pytest

from rlgraph_xflow.core.spaces import (
    BoolBox,
    Dict,
    FloatBox,
    GraphSpace,
    IntBox,
    Space,
    SpaceError,
    Tuple,
    space_from_spec,
)


def make_rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def assert_nested_equal(expected, actual) -> None:
    """Compares nested dicts / tuples of arrays exactly (dtype included)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected)
        for key in expected:
            assert_nested_equal(expected[key], actual[key])
    elif isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for expected_item, actual_item in zip(expected, actual):
            assert_nested_equal(expected_item, actual_item)
    else:
        assert np.asarray(actual).dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(actual, expected)


def graph_inconsistencies(graph) -> list[str]:
    """Independent reference check of a graph_nets GraphsTuple of numpy arrays.

    Returns every broken rule; an empty list means the graph is consistent.
    """
    problems = []
    n_node, n_edge = np.asarray(graph.n_node), np.asarray(graph.n_edge)
    if np.any(n_node < 0) or np.any(n_edge < 0):
        problems.append("negative count")
        return problems
    if graph.nodes.shape[0] != n_node.sum():
        problems.append("node rows")
    if graph.edges.shape[0] != n_edge.sum():
        problems.append("edge rows")
    if graph.globals.shape[0] != n_node.shape[0] or n_edge.shape[0] != n_node.shape[0]:
        problems.append("graph count")
    node_start = 0
    edge_start = 0
    for node_count, edge_count in zip(n_node, n_edge):
        for field in ("senders", "receivers"):
            indices = np.asarray(getattr(graph, field))[edge_start:edge_start + edge_count]
            if np.any(indices < node_start) or np.any(indices >= node_start + node_count):
                problems.append(f"{field} leave their graph")
        node_start += node_count
        edge_start += edge_count
    return problems


# Construction ----------------------------------------------------------------


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: FloatBox(shape=(2, -1)), "non-negative"),
        (lambda: FloatBox(shape="ab"), "sequence of ints"),
        (lambda: FloatBox(shape=4), "sequence of ints"),
        (lambda: FloatBox(dtype="int32"), "float type"),
        (lambda: FloatBox(low=1.0, high=0.0), "must not exceed"),
        (lambda: IntBox(high=3, low=3), "low < high"),
        (lambda: IntBox(high=3, dtype="float32"), "integer type"),
        (lambda: Dict(position=np.zeros(3)), "'position' must be a Space"),
        (lambda: Dict({"a/b": FloatBox()}), "must not contain '/'"),
        (lambda: Tuple([FloatBox(), "not a space"]), "Tuple entry 1 must be a Space"),
        (lambda: GraphSpace(-1, 2, 2), "node_size"),
        (lambda: GraphSpace(2, 2.5, 2), "edge_size"),
        (lambda: GraphSpace(2, 2, "3"), "global_size"),
        (lambda: GraphSpace(2, 2, 2, batch_rank=False), "always has a batch rank"),
        (lambda: GraphSpace(2, 2, 2, time_rank=True), "no time rank"),
    ],
)
def test_bad_construction_raises_space_error_naming_the_problem(build, fragment):
    with pytest.raises(SpaceError, match=fragment):
        build()


def test_graph_space_max_nodes_zero_message_states_the_real_requirement():
    with pytest.raises(SpaceError) as raised:
        GraphSpace(2, 2, 2, max_nodes=0)
    message = str(raised.value)
    assert "max_nodes" in message
    assert "non-negative" not in message, (
        "BUG: GraphSpace(max_nodes=0) is rejected with 'must be a non-negative int, got 0' although 0 is "
        f"non-negative; the message should say max_nodes must be >= 1. Got: {message}"
    )


def test_int_box_categorical_properties():
    assert IntBox(4).num_categories == 4
    assert IntBox(high=7, low=2).num_categories == 5
    assert IntBox().num_categories is None
    assert IntBox(4, shape=(2, 3)).rank == 2


@pytest.mark.parametrize(
    "space, with_batch, with_time, expected",
    [
        (FloatBox((3,)), True, True, (3,)),
        (FloatBox((3,), batch_rank=True), True, True, (None, 3)),
        (FloatBox((3,), batch_rank=True, time_rank=True), True, True, (None, None, 3)),
        (FloatBox((3,), batch_rank=True, time_rank=True), False, True, (None, 3)),
        (FloatBox((3,), batch_rank=True, time_rank=True), True, False, (None, 3)),
        (FloatBox((3,), batch_rank=True, time_rank=True), False, False, (3,)),
        (IntBox(2, shape=(), time_rank=True), True, True, (None,)),
    ],
)
def test_get_shape_puts_none_for_requested_leading_ranks(space, with_batch, with_time, expected):
    assert space.get_shape(with_batch_rank=with_batch, with_time_rank=with_time) == expected


# contains / mismatch ---------------------------------------------------------


@pytest.mark.parametrize(
    "space, value",
    [
        (FloatBox(), np.float32(1.5)),
        (FloatBox((2, 3)), np.ones((2, 3), np.float32)),
        (FloatBox((2,), batch_rank=True), np.ones((5, 2), np.float32)),
        (FloatBox((2,), batch_rank=True), np.ones((0, 2), np.float32)),
        (FloatBox((2,), batch_rank=True, time_rank=True), np.ones((4, 3, 2), np.float32)),
        (FloatBox((2,), batch_rank=True, time_rank=True, time_major=True), np.ones((3, 4, 2), np.float32)),
        (FloatBox((2,), low=-1.0, high=1.0), np.array([-1.0, 1.0], np.float32)),
        (FloatBox(dtype="float64"), np.float64(2.0)),
        (IntBox(3), np.int32(2)),
        (IntBox(3), np.int64(0)),
        (IntBox(3, shape=(2,), batch_rank=True), np.array([[0, 2], [1, 1]], np.int32)),
        (IntBox(high=5, low=-2, shape=(2,)), np.array([-2, 4], np.int32)),
        (IntBox(shape=(2,)), np.array([0, 10**6], np.int32)),
        (BoolBox((2,)), np.array([True, False])),
        (BoolBox(batch_rank=True), np.zeros(3, bool)),
    ],
)
def test_box_contains_matching_values(space, value):
    assert space.mismatch(value) is None
    assert space.contains(value)


@pytest.mark.parametrize(
    "space, value, fragment",
    [
        (FloatBox((2, 3)), np.ones((3, 2), np.float32), "expected trailing shape (2, 3)"),
        (FloatBox((2, 3)), np.ones((2, 3, 1), np.float32), "expected rank 2"),
        (FloatBox((2,)), np.ones((4, 2), np.float32), "expected rank 1"),
        (FloatBox((2,), batch_rank=True), np.ones(2, np.float32), "expected rank 2"),
        (FloatBox((2,), batch_rank=True), np.ones((4, 3), np.float32), "trailing shape (2,)"),
        (FloatBox((2,), batch_rank=True, time_rank=True), np.ones((4, 2), np.float32), "expected rank 3"),
        (FloatBox((2,), time_rank=True), np.ones((4, 5, 2), np.float32), "expected rank 2"),
        (FloatBox((2,)), np.ones(2, np.float64), "expected dtype float32, got float64"),
        (FloatBox((2,)), np.ones(2, np.int32), "expected dtype float32"),
        (FloatBox((2,), low=0.0, high=1.0), np.array([0.5, 1.5], np.float32), "outside"),
        (FloatBox((2,), low=0.0, high=1.0), np.array([-0.1, 0.5], np.float32), "outside"),
        (IntBox(3), np.float32(1.0), "expected dtype int32"),
        (IntBox(3), np.bool_(True), "expected dtype int32"),
        (IntBox(3), np.int32(3), "outside [0, 3)"),
        (IntBox(3), np.int32(-1), "outside"),
        (IntBox(high=5, low=2, shape=(2,)), np.array([2, 1], np.int32), "outside [2, 5)"),
        (IntBox(), np.int32(-1), "outside"),
        (IntBox(3, shape=(2,)), np.zeros(3, np.int32), "trailing shape (2,)"),
        (BoolBox((2,)), np.array([1, 0], np.int64), "expected dtype bool"),
        (BoolBox((2,)), np.array([True]), "trailing shape (2,)"),
    ],
)
def test_box_mismatch_explains_the_failure(space, value, fragment):
    reason = space.mismatch(value)
    assert reason is not None and fragment in reason, reason
    assert not space.contains(value)


def test_box_mismatch_of_ragged_value_returns_a_reason_instead_of_raising():
    ragged = [[1.0], [2.0, 3.0]]
    try:
        reason = FloatBox((2,), batch_rank=True).mismatch(ragged)
    except ValueError as error:
        pytest.fail(
            "BUG: FloatBox.mismatch (and contains) raise numpy's ValueError for a ragged nested list instead of "
            f"returning a reason / False: {error}"
        )
    assert reason is not None


def test_dict_mismatch_names_the_key():
    space = Dict(position=FloatBox((2,)), mask=BoolBox((3,)), batch_rank=True)
    good = {"position": np.zeros((4, 2), np.float32), "mask": np.ones((4, 3), bool)}
    assert space.contains(good)
    assert "mapping" in space.mismatch([good["position"], good["mask"]])
    assert "expected keys ['mask', 'position'], got ['position']" in space.mismatch({"position": good["position"]})
    assert "got ['extra', 'mask', 'position']" in space.mismatch({**good, "extra": 1})
    reason = space.mismatch({**good, "mask": np.ones((4, 2), bool)})
    assert reason.startswith("['mask']:") and "trailing shape (3,)" in reason


def test_nested_container_mismatch_names_the_index_and_key():
    space = Tuple([IntBox(2), Dict(inner=FloatBox((1,)))])
    assert space.contains((np.int32(1), {"inner": np.zeros(1, np.float32)}))
    assert space.contains([np.int32(1), {"inner": np.zeros(1, np.float32)}])
    reason = space.mismatch((np.int32(1), {"inner": np.zeros(2, np.float32)}))
    assert reason.startswith("[1]: ['inner']:"), reason
    assert "[0]:" in space.mismatch((np.int32(5), {"inner": np.zeros(1, np.float32)}))
    assert "sequence of 2" in space.mismatch({"inner": 1})


def test_tuple_mismatch_of_wrong_length_says_the_length_found():
    reason = Tuple([FloatBox(), FloatBox()]).mismatch((np.float32(1), np.float32(2), np.float32(3)))
    assert reason is not None
    assert "3" in reason, (
        f"BUG: Tuple.mismatch for a 3-tuple where 2 values are expected does not say what was found: {reason!r}"
    )


# sample and zeros --------------------------------------------------------------


LEAF_SPACES = [
    FloatBox((2, 3)),
    FloatBox((4,), low=-2.0, high=3.0),
    FloatBox((4,), low=0.5),
    FloatBox((4,), high=-0.5),
    FloatBox((3,), low=-1.0, high=1.0, dtype="float64"),
    FloatBox((2,), low=1.0, high=1.0),
    IntBox(5),
    IntBox(high=4, low=-3, shape=(2, 2)),
    IntBox(shape=(3,)),
    IntBox(3, dtype="int64"),
    BoolBox((2, 2)),
]

ALL_SPACES = LEAF_SPACES + [
    Dict(position=FloatBox((2,), low=0.0, high=1.0), action=IntBox(3)),
    Tuple([BoolBox((2,)), Dict(a=IntBox(2, shape=(2,)), b=Tuple([FloatBox()]))]),
]


@pytest.mark.parametrize("space", ALL_SPACES, ids=repr)
@pytest.mark.parametrize("batch_rank, time_rank, size", [(False, False, None), (True, False, 6), (True, True, (3, 4)), (False, True, [5])])
def test_sample_lies_in_the_space_and_is_reproducible(space, batch_rank, time_rank, size):
    space = space.with_ranks(batch_rank=batch_rank, time_rank=time_rank)
    first = space.sample(size, rng=make_rng(7))
    assert space.contains(first), space.mismatch(first)
    assert_nested_equal(first, space.sample(size, rng=make_rng(7)))
    leading = () if size is None else ((size,) if isinstance(size, int) else tuple(size))
    for key, leaf in space.flatten().items():
        value = space.flatten_value(first)[key]
        assert value.shape == leading + leaf.shape
        assert value.dtype == leaf.dtype


@pytest.mark.parametrize("space", LEAF_SPACES, ids=repr)
def test_zeros_have_the_right_shape_and_dtype(space):
    batched = space.with_ranks(batch_rank=True, time_rank=True)
    zeros = batched.zeros((2, 3))
    assert zeros.shape == (2, 3) + space.shape and zeros.dtype == space.dtype
    assert not np.any(zeros)
    single = space.zeros()
    assert single.shape == space.shape and single.dtype == space.dtype


def test_container_zeros_are_nested_and_contained():
    space = Dict(obs=FloatBox((2,)), extra=Tuple([IntBox(3), BoolBox()]), batch_rank=True)
    zeros = space.zeros(4)
    assert space.contains(zeros)
    assert_nested_equal(
        {"extra": (np.zeros(4, np.int32), np.zeros(4, bool)), "obs": np.zeros((4, 2), np.float32)}, zeros
    )


def test_different_seeds_give_different_samples():
    space = FloatBox((16,), low=0.0, high=1.0)
    assert not np.array_equal(space.sample(rng=make_rng(1)), space.sample(rng=make_rng(2)))


def test_sample_covers_the_bounds():
    rng = make_rng(3)
    floats = FloatBox(low=-2.0, high=3.0, batch_rank=True).sample(4000, rng=rng)
    assert floats.min() >= -2.0 and floats.max() <= 3.0
    assert floats.min() < -1.9 and floats.max() > 2.9
    assert abs(floats.mean() - 0.5) < 0.15
    integers = IntBox(high=4, low=-3, batch_rank=True).sample(4000, rng=rng)
    assert sorted(np.unique(integers).tolist()) == list(range(-3, 4))
    booleans = BoolBox(batch_rank=True).sample(200, rng=rng)
    assert booleans.dtype == bool and booleans.any() and not booleans.all()
    lower_bounded = FloatBox(low=0.5, batch_rank=True).sample(500, rng=rng)
    assert lower_bounded.min() >= 0.5 and np.isfinite(lower_bounded).all()


def test_sample_without_rng_works_and_lies_in_space():
    space = Dict(a=IntBox(3, shape=(4,)), b=FloatBox(low=0.0, high=1.0))
    assert space.contains(space.sample())


@pytest.mark.parametrize("high", [None, 1000])
def test_int_box_sample_lies_in_space_for_a_narrow_dtype(high):
    try:
        space = IntBox(high=high, shape=(200,), dtype="int8")
    except SpaceError:
        return  # rejecting bounds the dtype cannot hold is a valid answer
    sample = space.sample(rng=make_rng(0))
    assert space.contains(sample), (
        f"BUG: IntBox(high={high}, dtype='int8').sample() wraps around the int8 range and gives values outside "
        f"the space ({space.mismatch(sample)}); either the constructor should reject bounds the dtype cannot "
        "hold or sample should draw within the dtype's range"
    )


@pytest.mark.parametrize(
    "space, size",
    [
        (FloatBox((2,)), 3),
        (FloatBox((2,), batch_rank=True), None),
        (FloatBox((2,), batch_rank=True), (2, 3)),
        (IntBox(3, batch_rank=True, time_rank=True), 4),
        (Dict(a=BoolBox(), batch_rank=True), (1, 2)),
    ],
)
def test_sample_and_zeros_with_wrong_size_raise(space, size):
    with pytest.raises(SpaceError, match="leading rank"):
        space.sample(size, rng=make_rng())
    with pytest.raises(SpaceError, match="leading rank"):
        space.zeros(size)


# flatten / unflatten -----------------------------------------------------------


NESTED = Dict(
    b=Tuple([FloatBox((2,)), Dict(y=IntBox(3), x=BoolBox((1,)))]),
    a=IntBox(4, shape=(2,)),
    batch_rank=True,
)


def test_flatten_keys_are_sorted_paths():
    flat = NESTED.flatten()
    assert list(flat) == ["/a", "/b/0", "/b/1/x", "/b/1/y"]
    assert flat["/b/1/y"] == IntBox(3, batch_rank=True)
    assert flat["/b/0"] == FloatBox((2,), batch_rank=True)
    assert list(NESTED.flatten(prefix="/obs")) == ["/obs/a", "/obs/b/0", "/obs/b/1/x", "/obs/b/1/y"]
    assert FloatBox().flatten() == {"": FloatBox()}


def test_flatten_value_and_unflatten_round_trip():
    value = NESTED.sample(3, rng=make_rng(5))
    flat = NESTED.flatten_value(value)
    assert list(flat) == list(NESTED.flatten())
    assert flat["/b/1/y"] is value["b"][1]["y"]
    rebuilt = NESTED.unflatten(flat)
    assert_nested_equal(value, rebuilt)
    assert NESTED.contains(rebuilt)

    tuple_of_dicts = Tuple([Dict(p=FloatBox(), q=Tuple([IntBox(2), IntBox(5)])), BoolBox()])
    value = tuple_of_dicts.sample(rng=make_rng(6))
    assert list(tuple_of_dicts.flatten_value(value)) == ["/0/p", "/0/q/0", "/0/q/1", "/1"]
    assert_nested_equal(value, tuple_of_dicts.unflatten(tuple_of_dicts.flatten_value(value)))

    primitive = FloatBox((2,))
    array = np.ones(2, np.float32)
    assert primitive.unflatten(primitive.flatten_value(array)) is array


def test_unflatten_with_a_missing_key_names_it():
    flat = NESTED.flatten_value(NESTED.zeros(1))
    del flat["/b/1/x"]
    with pytest.raises(SpaceError, match="'/b/1/x'"):
        NESTED.unflatten(flat)


# with_ranks, equality, hashing -------------------------------------------------


def test_with_ranks_returns_a_copy_and_keeps_unspecified_ranks():
    space = FloatBox((3,), low=0.0, high=1.0, batch_rank=True)
    both = space.with_ranks(time_rank=True)
    assert (both.batch_rank, both.time_rank) == (True, True)
    assert (space.batch_rank, space.time_rank) == (True, False)
    assert (both.shape, both.low, both.high, both.dtype) == (space.shape, space.low, space.high, space.dtype)
    assert both.with_ranks() == both and both.with_ranks() is not both
    assert space.with_ranks(batch_rank=False).get_shape() == (3,)


def test_with_ranks_propagates_into_nested_containers_without_touching_the_original():
    space = Dict(outer=Tuple([FloatBox((2,)), Dict(inner=IntBox(3))]), flag=BoolBox())
    ranked = space.with_ranks(batch_rank=True, time_rank=True)
    for leaf in ranked.flatten().values():
        assert (leaf.batch_rank, leaf.time_rank) == (True, True)
    assert (ranked["outer"].batch_rank, ranked["outer"][1].time_rank) == (True, True)
    for leaf in space.flatten().values():
        assert (leaf.batch_rank, leaf.time_rank) == (False, False)
    assert ranked.with_ranks(batch_rank=False, time_rank=False) == space


def test_containers_apply_their_ranks_to_children_without_mutating_them():
    child = FloatBox((2,))
    dict_space = Dict(x=child, batch_rank=True)
    tuple_space = Tuple([child], time_rank=True)
    assert dict_space["x"].batch_rank and not dict_space["x"].time_rank
    assert tuple_space[0].time_rank and not tuple_space[0].batch_rank
    assert not child.batch_rank and not child.time_rank
    assert len(tuple_space) == 1 and list(dict_space.keys()) == ["x"]


def test_dict_accepts_a_mapping_and_keywords_together():
    space = Dict({"b": FloatBox()}, a=IntBox(2))
    assert list(space.keys()) == ["a", "b"]
    assert space == Dict(a=IntBox(2), b=FloatBox())


@pytest.mark.parametrize("container", ["dict", "tuple"])
def test_container_children_follow_time_major(container):
    leaf = FloatBox((2,))
    if container == "dict":
        space = Dict(x=leaf, batch_rank=True, time_rank=True, time_major=True)
        child = space["x"]
    else:
        space = Tuple([leaf], batch_rank=True, time_rank=True, time_major=True)
        child = space[0]
    assert child.time_major, (
        f"BUG: a time-major {container} keeps its children batch-major (child.time_major=False), so a component "
        "reading the child space would put the time axis second; containers pass batch_rank/time_rank to "
        "children but not time_major"
    )


def test_equal_spaces_have_equal_hashes():
    pairs = [
        (FloatBox([2, 3], low=0, high=1), FloatBox((2, 3), low=0.0, high=1.0)),
        (IntBox(4, batch_rank=True), IntBox(high=4, batch_rank=True)),
        (BoolBox((1,)), BoolBox([1])),
        (Dict(a=FloatBox(), b=IntBox(2)), Dict(b=IntBox(2), a=FloatBox())),
        (Tuple([FloatBox(), BoolBox()], batch_rank=True), Tuple((FloatBox(), BoolBox()), batch_rank=True)),
        (GraphSpace(2, 3, 4), GraphSpace(2, 3, 4)),
    ]
    for left, right in pairs:
        assert left == right and hash(left) == hash(right)
        assert len({left, right}) == 1


def test_spaces_differing_in_anything_are_unequal():
    base = FloatBox((2,), low=0.0, high=1.0, batch_rank=True)
    variants = [
        FloatBox((3,), low=0.0, high=1.0, batch_rank=True),
        FloatBox((2,), low=-1.0, high=1.0, batch_rank=True),
        FloatBox((2,), low=0.0, high=2.0, batch_rank=True),
        FloatBox((2,), low=0.0, high=1.0),
        FloatBox((2,), low=0.0, high=1.0, batch_rank=True, time_rank=True),
        FloatBox((2,), low=0.0, high=1.0, batch_rank=True, time_rank=True, time_major=True),
        FloatBox((2,), low=0.0, high=1.0, batch_rank=True, dtype="float64"),
        IntBox(1, shape=(2,), batch_rank=True),
        BoolBox((2,), batch_rank=True),
    ]
    for variant in variants:
        assert variant != base, variant
    assert len({base, *variants}) == len(variants) + 1
    assert IntBox(3) != IntBox(4) and IntBox(3) != IntBox(3, dtype="int64") and IntBox(3) != IntBox(high=3, low=1)
    assert Tuple([FloatBox(), IntBox(2)]) != Tuple([IntBox(2), FloatBox()])
    assert Dict(a=FloatBox()) != Dict(b=FloatBox())
    assert Dict(a=FloatBox()) != Dict(a=FloatBox((1,)))
    assert GraphSpace(2, 3, 4) != GraphSpace(2, 3, 5)
    assert FloatBox() != "FloatBox" and FloatBox().is_compatible(FloatBox())
    assert not FloatBox().is_compatible(FloatBox((1,)))


# GraphSpace ----------------------------------------------------------------------


GRAPH_SPACE = GraphSpace(node_size=3, edge_size=2, global_size=4, max_nodes=5)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("num_graphs", [1, 4])
def test_graph_sample_is_a_consistent_graphs_tuple(seed, num_graphs):
    from graph_nets import graphs, utils_np

    graph = GRAPH_SPACE.sample(num_graphs, rng=make_rng(seed))
    assert isinstance(graph, graphs.GraphsTuple)
    assert graph_inconsistencies(graph) == []
    assert GRAPH_SPACE.contains(graph), GRAPH_SPACE.mismatch(graph)
    assert graph.n_node.shape == (num_graphs,) and graph.globals.shape == (num_graphs, 4)
    assert graph.nodes.shape[1] == 3 and graph.edges.shape[1] == 2
    assert np.all((graph.n_node >= 1) & (graph.n_node <= 5))
    for field, dtype in [("nodes", np.float32), ("edges", np.float32), ("globals", np.float32),
                         ("senders", np.int32), ("receivers", np.int32), ("n_node", np.int32), ("n_edge", np.int32)]:
        assert getattr(graph, field).dtype == dtype, field
    # graph_nets' own split subtracts each graph's node offset: indices must
    # then lie in that graph's node range.
    data_dicts = utils_np.graphs_tuple_to_data_dicts(graph)
    assert len(data_dicts) == num_graphs
    for data_dict in data_dicts:
        for field in ("senders", "receivers"):
            assert np.all((data_dict[field] >= 0) & (data_dict[field] < data_dict["n_node"]))
    rebuilt = utils_np.data_dicts_to_graphs_tuple(data_dicts)
    for field in ("nodes", "edges", "senders", "receivers", "globals", "n_node", "n_edge"):
        np.testing.assert_array_equal(getattr(rebuilt, field), getattr(graph, field))


def test_graph_sample_is_reproducible_and_has_edges_somewhere():
    first = GRAPH_SPACE.sample(8, rng=make_rng(11))
    second = GRAPH_SPACE.sample(8, rng=make_rng(11))
    for field in ("nodes", "edges", "senders", "receivers", "globals", "n_node", "n_edge"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert first.n_edge.sum() > 0
    assert GRAPH_SPACE.sample(rng=make_rng(0)).n_node.shape == (1,)


def test_graph_zeros_are_contained():
    zeros = GRAPH_SPACE.zeros(3)
    assert GRAPH_SPACE.contains(zeros) and graph_inconsistencies(zeros) == []
    np.testing.assert_array_equal(zeros.n_node, [1, 1, 1])
    assert zeros.nodes.shape == (3, 3) and zeros.edges.shape == (0, 2) and not zeros.nodes.any()


def test_graph_sample_with_wrong_size_raises():
    with pytest.raises(SpaceError, match="leading rank"):
        GRAPH_SPACE.sample((2, 3), rng=make_rng())


def _valid_two_graphs():
    from graph_nets import graphs

    return graphs.GraphsTuple(
        nodes=np.zeros((5, 3), np.float32),
        edges=np.zeros((3, 2), np.float32),
        senders=np.array([0, 1, 3], np.int32),
        receivers=np.array([1, 0, 4], np.int32),
        globals=np.zeros((2, 4), np.float32),
        n_node=np.array([2, 3], np.int32),
        n_edge=np.array([2, 1], np.int32),
    )


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"nodes": np.zeros((5, 2), np.float32)}, "field nodes"),
        ({"nodes": np.zeros(5, np.float32)}, "field nodes"),
        ({"nodes": np.zeros((5, 3), np.int32)}, "field nodes: expected dtype float32"),
        ({"edges": np.zeros((3, 5), np.float32)}, "field edges"),
        ({"globals": np.zeros((2, 1), np.float32)}, "field globals"),
        ({"senders": np.array([0.0, 1.0, 3.0], np.float32)}, "field senders: expected dtype int32"),
        ({"n_node": np.array([[2, 3]], np.int32)}, "field n_node"),
        ({"globals": np.zeros((3, 4), np.float32)}, "number of graphs"),
        ({"n_edge": np.array([2, 1, 0], np.int32), "globals": np.zeros((3, 4), np.float32),
          "n_node": np.array([2, 3, 0], np.int32)}, None),
        ({"n_node": np.array([2, 2], np.int32)}, "sum(n_node)=4 but nodes has 5 rows"),
        ({"n_edge": np.array([1, 1], np.int32)}, "sum(n_edge)=2 but edges has 3 rows"),
        ({"senders": np.array([0, 1], np.int32)}, "senders has 2 entries for 3 edges"),
        ({"receivers": np.array([1, 0, 5], np.int32)}, "receivers index a node outside"),
        ({"senders": np.array([-1, 1, 3], np.int32)}, "senders index a node outside"),
    ],
)
def test_graph_mismatch_catches_each_inconsistency(changes, fragment):
    graph = _valid_two_graphs()
    assert GRAPH_SPACE.mismatch(graph) is None and graph_inconsistencies(graph) == []
    changed = graph.replace(**changes)
    reason = GRAPH_SPACE.mismatch(changed)
    if fragment is None:  # a valid change (an empty third graph) must still pass
        assert reason is None and graph_inconsistencies(changed) == []
    else:
        assert reason is not None and fragment in reason, reason


def test_graph_mismatch_of_a_non_graph_lists_the_missing_fields():
    reason = GRAPH_SPACE.mismatch({"nodes": np.zeros((1, 3), np.float32)})
    assert "expected a GraphsTuple" in reason and "'n_node'" in reason


@pytest.mark.parametrize(
    "changes, description",
    [
        # An edge of graph 0 (nodes 0..1) pointing into graph 1 (nodes 2..4).
        ({"receivers": np.array([1, 3, 4], np.int32)}, "a receiver of graph 0 indexes a node of graph 1"),
        ({"senders": np.array([0, 1, 1], np.int32)}, "a sender of graph 1 indexes a node of graph 0"),
        ({"n_node": np.array([-1, 6], np.int32), "senders": np.array([0, 1, 3], np.int32)}, "n_node is negative"),
        ({"n_edge": np.array([-1, 4], np.int32)}, "n_edge is negative"),
    ],
)
def test_graph_mismatch_catches_edges_leaving_their_graph_and_negative_counts(changes, description):
    changed = _valid_two_graphs().replace(**changes)
    assert graph_inconsistencies(changed) != []
    assert GRAPH_SPACE.mismatch(changed) is not None, (
        f"BUG: GraphSpace.mismatch accepts an inconsistent GraphsTuple ({description}); it only checks indices "
        "against the total node count and never checks each graph's own node range or that counts are >= 0"
    )


def test_graph_space_ranks_are_fixed():
    assert GRAPH_SPACE.batch_rank and not GRAPH_SPACE.time_rank
    assert GRAPH_SPACE.with_ranks(batch_rank=True) == GRAPH_SPACE
    with pytest.raises(SpaceError, match="batch rank"):
        GRAPH_SPACE.with_ranks(batch_rank=False)
    with pytest.raises(SpaceError, match="time rank"):
        GRAPH_SPACE.with_ranks(time_rank=True)
    with pytest.raises(SpaceError, match="batch rank"):
        Dict(graph=GRAPH_SPACE)  # a container without a batch rank cannot hold graphs


def test_graph_space_inside_a_batched_dict_samples_and_flattens():
    space = Dict(graph=GRAPH_SPACE, mask=BoolBox((2,)), batch_rank=True)
    value = space.sample(3, rng=make_rng(2))
    assert space.contains(value)
    assert value["graph"].n_node.shape == (3,) and value["mask"].shape == (3, 2)
    assert list(space.flatten()) == ["/graph", "/mask"]
    assert space.unflatten(space.flatten_value(value))["graph"] is value["graph"]


# space_from_spec -------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"type": "float_box", "shape": [4], "batch_rank": True}, FloatBox((4,), batch_rank=True)),
        ({"type": "float_box", "shape": [2], "low": -1, "high": 1, "dtype": "float64"},
         FloatBox((2,), low=-1.0, high=1.0, dtype="float64")),
        ({"type": "int_box", "high": 5, "time_rank": True}, IntBox(5, time_rank=True)),
        ({"type": "int_box", "shape": [2, 2], "low": 1, "high": 3}, IntBox(high=3, low=1, shape=(2, 2))),
        ({"type": "bool_box", "shape": [3], "batch_rank": True, "time_rank": True, "time_major": True},
         BoolBox((3,), batch_rank=True, time_rank=True, time_major=True)),
        ({"type": "graph", "node_size": 3, "edge_size": 2, "global_size": 4}, GraphSpace(3, 2, 4)),
        ({"type": "dict", "position": {"type": "float_box", "shape": [2]}, "mask": {"type": "bool_box"},
          "batch_rank": True},
         Dict(position=FloatBox((2,)), mask=BoolBox(), batch_rank=True)),
        ({"type": "dict", "spaces": {"a": {"type": "int_box", "high": 2}}}, Dict(a=IntBox(2))),
        ({"type": "tuple", "spaces": [{"type": "int_box", "high": 2},
                                      {"type": "dict", "x": {"type": "float_box"}}], "batch_rank": True},
         Tuple([IntBox(2), Dict(x=FloatBox())], batch_rank=True)),
        ({"type": "dict", "graph": {"type": "graph", "node_size": 1, "edge_size": 1, "global_size": 1},
          "batch_rank": True},
         Dict(graph=GraphSpace(1, 1, 1), batch_rank=True)),
    ],
)
def test_space_from_spec_builds_every_type(spec, expected):
    original = repr(spec)
    built = space_from_spec(spec)
    assert built == expected and type(built) is type(expected)
    assert repr(spec) == original, "space_from_spec must not modify the spec it is given"


def test_space_from_spec_passes_spaces_through():
    space = FloatBox((2,))
    assert space_from_spec(space) is space


@pytest.mark.parametrize(
    "spec, key_path, fragments",
    [
        ({"type": "flaot_box"}, "obs", ["obs.type", "'flaot_box'", "did you mean 'float_box'", "bool_box"]),
        ({"type": "zzzzzz"}, "obs", ["obs.type", "'zzzzzz'", "Known"]),
        ({"shape": [2]}, "obs", ["obs:", "'type'"]),
        ([1, 2], "obs", ["obs:", "mapping"]),
        ("float_box", "obs", ["obs:", "mapping"]),
        ({"type": "float_box", "shap": [2]}, "obs", ["obs:", "bad arguments", "shap"]),
        ({"type": "graph", "node_size": 1}, "obs", ["obs:", "'graph'", "edge_size"]),
        ({"type": "float_box", "dtype": "no_such_dtype"}, "obs", ["obs:", "float_box"]),
        ({"type": "bool_box", "dtype": "int32"}, "obs", ["obs:", "bool_box"]),
        ({"type": "dict", "a": {"type": "int_bx"}}, "obs", ["obs.a.type", "did you mean 'int_box'"]),
        ({"type": "dict", "a": {"type": "dict", "b": 3}}, "obs", ["obs.a.b:"]),
        ({"type": "tuple", "spaces": [{"type": "float_box"}, {"type": "int_box", "hihg": 2}]}, "obs",
         ["obs.spaces[1]:", "hihg"]),
        ({"type": "tuple", "spaces": [{"type": "dict", "x": {}}]}, "cfg.observation", ["cfg.observation.spaces[0].x:"]),
    ],
)
def test_space_from_spec_errors_name_the_key_path(spec, key_path, fragments):
    with pytest.raises(SpaceError) as raised:
        space_from_spec(spec, key_path)
    for fragment in fragments:
        assert fragment in str(raised.value), str(raised.value)


def test_space_from_spec_default_key_path_is_space():
    with pytest.raises(SpaceError, match=r"^space\.type"):
        space_from_spec({"type": "box"})


@pytest.mark.parametrize(
    "spec, expected_path, description",
    [
        ({"type": ["float_box"]}, "obs.type", "an unhashable type raises TypeError"),
        ({"type": "float_box", "low": 1.0, "high": 0.0}, "obs", "a constructor SpaceError lacks the key path"),
        ({"type": "float_box", "shape": 4}, "obs", "a constructor SpaceError lacks the key path"),
        ({"type": "int_box", "high": "many"}, "obs", "int('many') escapes as a bare ValueError"),
        ({"type": "tuple", "spaces": [], "batch_rnak": True}, "obs", "an unknown tuple argument escapes as TypeError"),
        ({"type": "dict", "spaces": [{"type": "float_box"}]}, "obs.spaces", "a list of dict spaces raises AttributeError"),
        ({"type": "dict", "spaces": {"a": {"type": "flot_box"}}}, "obs.spaces.a.type",
         "a dict child given under 'spaces' is reported without the 'spaces' part of its path"),
    ],
)
def test_space_from_spec_bad_specs_raise_space_error_with_the_full_key_path(spec, expected_path, description):
    try:
        space_from_spec(spec, "obs")
    except SpaceError as error:
        assert str(error).startswith(expected_path + ":") or str(error).startswith(expected_path + "."), (
            f"BUG: {description}: expected the message to start with key path {expected_path!r}, got {str(error)!r}"
        )
    except Exception as error:  # noqa: BLE001  (any other error type is the bug being reported)
        pytest.fail(f"BUG: {description}: space_from_spec raised {type(error).__name__}: {error}, not a SpaceError "
                    f"naming {expected_path!r}")
    else:
        pytest.fail(f"space_from_spec accepted the bad spec {spec!r}")


def test_space_from_spec_dict_with_spaces_rejects_unknown_arguments():
    spec = {"type": "dict", "spaces": {"a": {"type": "float_box"}}, "batch_rnak": True}
    try:
        built = space_from_spec(spec, "obs")
    except SpaceError as error:
        assert "obs" in str(error) and "batch_rnak" in str(error)
    else:
        pytest.fail(
            f"BUG: a dict spec with 'spaces' silently ignores the misspelled key 'batch_rnak' and builds {built!r} "
            "(without a batch rank) instead of raising SpaceError naming obs.batch_rnak"
        )


# tensor_spec (the only TensorFlow use in this module) ----------------------------


def test_tensor_spec_shapes_and_dtypes_match_samples():
    import tensorflow as tf

    box = FloatBox((3,), batch_rank=True, time_rank=True)
    spec = box.tensor_spec()
    assert spec == tf.TensorSpec((None, None, 3), tf.float32)
    assert spec.is_compatible_with(tf.constant(box.sample((2, 5), rng=make_rng())))
    assert not spec.is_compatible_with(tf.zeros((2, 5, 4)))
    assert IntBox(4, shape=(2,), dtype="int64").tensor_spec() == tf.TensorSpec((2,), tf.int64)
    assert BoolBox(batch_rank=True).tensor_spec() == tf.TensorSpec((None,), tf.bool)
    assert FloatBox((2,), time_rank=True, dtype="float64").tensor_spec() == tf.TensorSpec((None, 2), tf.float64)

    nested = Dict(a=Tuple([IntBox(3), BoolBox((2,))]), b=FloatBox((1,)), batch_rank=True)
    nested_spec = nested.tensor_spec()
    assert nested_spec == {
        "a": (tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, 2), tf.bool)),
        "b": tf.TensorSpec((None, 1), tf.float32),
    }
    value = nested.sample(4, rng=make_rng())
    flat_specs = tf.nest.flatten(nested_spec)
    flat_values = tf.nest.flatten(value)
    assert len(flat_specs) == len(flat_values) == 3
    for tensor_spec, array in zip(flat_specs, flat_values):
        assert tensor_spec.is_compatible_with(tf.constant(array))

    graph_spec = GRAPH_SPACE.tensor_spec()
    graph = GRAPH_SPACE.sample(3, rng=make_rng())
    expected = {
        "nodes": ((None, 3), tf.float32), "edges": ((None, 2), tf.float32), "globals": ((None, 4), tf.float32),
        "senders": ((None,), tf.int32), "receivers": ((None,), tf.int32),
        "n_node": ((None,), tf.int32), "n_edge": ((None,), tf.int32),
    }
    for field, (shape, dtype) in expected.items():
        assert getattr(graph_spec, field) == tf.TensorSpec(shape, dtype), field
        assert getattr(graph_spec, field).is_compatible_with(tf.constant(getattr(graph, field))), field


def test_space_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Space().sample()
    with pytest.raises(NotImplementedError):
        Space().mismatch(1)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
@pytest.mark.parametrize("low, high", [(0, 5), (-3, 4), (-1, 2147483647), (-128, 128), (0, None), (-1, None)])
def test_int_box_value_check_matches_brute_force(dtype, low, high):
    """IntBox skips a bound the value's dtype cannot pass; the verdict stays that of checking every element."""
    rng = np.random.default_rng(7)
    space = IntBox(high, shape=(3,), low=low, dtype="int64", batch_rank=True)
    limits = np.iinfo(dtype)
    for _ in range(50):
        values = rng.integers(max(limits.min, -200), min(limits.max, 300) + 1, size=(4, 3)).astype(dtype)
        inside = bool(np.all(values >= low) and (high is None or np.all(values < high)))
        assert (space.mismatch(values) is None) == inside, (values, low, high)
    for edge in (limits.min, limits.max):
        values = np.full((1, 3), edge, dtype)
        inside = edge >= low and (high is None or edge < high)
        assert (space.mismatch(values) is None) == inside, (edge, low, high)
