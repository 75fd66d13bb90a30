"""LocationHead against a loop-by-loop numpy twin; NO-OP; index checks."""
import numpy as np
import pytest

from rlgraph_xflow.components.heads import MASKED_LOGIT, LocationHead
from rlgraph_xflow.core import BoolBox, ComponentTest, FloatBox, IntBox, SpaceMismatchError, SpecError

from tests.components.numpy_reference import location_logits
from tests.components.synthetic_observations import policy_inputs, policy_spaces

NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT = 3, 4, 2, 6


LOCATION_ARGUMENTS = ("node_embeddings", "graphs", "xfer_tuples", "location_masks", "xfers")


def location_spaces(**changes):
    spaces = policy_spaces(NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
    return dict({name: spaces[name] for name in LOCATION_ARGUMENTS}, **changes)


def location_inputs(rng, batch):
    return policy_inputs(rng, batch, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)


@pytest.fixture(scope="module")
def head_test():
    return ComponentTest(LocationHead(NUM_XFERS, xfer_embedding_size=3, hidden_layers=[5], seed=4), location_spaces())


def _call(test, inputs):
    return test.test(("logits", tuple(inputs[k] for k in LOCATION_ARGUMENTS)))


def test_logits_match_the_loop_twin(head_test):
    inputs = location_inputs(np.random.default_rng(0), batch=6)
    inputs["xfers"][:3] = [0, 1, 2]   # make sure real xfers (not only NO-OP) are covered
    inputs["location_masks"][:3, :, 0] = True
    expected = location_logits(inputs["node_embeddings"], inputs["graphs"].n_node, inputs["xfer_tuples"], inputs["location_masks"],
                               inputs["xfers"], head_test.read_variable_values(), "location_head")
    outputs = _call(head_test, inputs)
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-4)
    assert np.all(np.isfinite(outputs))


def test_scores_depend_on_the_matched_nodes_of_each_graph(head_test):
    """Changing the embedding of a node matched by a valid location changes its score; other graphs are untouched."""
    rng = np.random.default_rng(1)
    inputs = location_inputs(rng, batch=2)
    inputs["xfers"][:] = 0
    inputs["xfer_tuples"][:, 0] = -1
    inputs["xfer_tuples"][:, 0, 0, 0] = 0        # location 0 of xfer 0 matches local node 0 in each graph
    inputs["location_masks"][:, 0] = [True, False, False, False]
    before = _call(head_test, inputs)
    second_graph_first_node = inputs["graphs"].n_node[0]
    changed = dict(inputs, node_embeddings=inputs["node_embeddings"].copy())
    changed["node_embeddings"][second_graph_first_node] += 5.0
    after = _call(head_test, changed)
    assert after[0, 0] == pytest.approx(before[0, 0], abs=1e-6)
    assert after[1, 0] != pytest.approx(before[1, 0], abs=1e-3)
    assert np.all(after[:, 1:] == np.float32(MASKED_LOGIT))


def test_no_op_has_only_location_zero(head_test):
    inputs = location_inputs(np.random.default_rng(2), batch=3)
    inputs["xfers"][:] = NUM_XFERS
    outputs = _call(head_test, inputs)
    assert np.all(outputs[:, 1:] == np.float32(MASKED_LOGIT)) and np.all(outputs[:, 0] > MASKED_LOGIT / 2)


def test_a_node_index_outside_its_graph_is_an_error(head_test):
    import tensorflow as tf

    inputs = location_inputs(np.random.default_rng(3), batch=2)
    inputs["xfers"][:] = 0
    inputs["location_masks"][:, 0, 0] = True
    inputs["xfer_tuples"][0, 0, 0, 0] = inputs["graphs"].n_node[0]   # a node of the next graph
    with pytest.raises(tf.errors.InvalidArgumentError, match="node index >= n_node of the same graph"):
        _call(head_test, inputs)


@pytest.mark.parametrize("argument, space", [
    ("xfer_tuples", IntBox(high=9, low=-1, shape=(NUM_XFERS + 1, LOCATIONS, PATTERN_OPS), batch_rank=True)),
    ("location_masks", BoolBox((NUM_XFERS, LOCATIONS + 1), batch_rank=True)),
    ("xfers", IntBox(NUM_XFERS + 2, batch_rank=True)),
    ("graphs", FloatBox((3,), batch_rank=True)),
])
def test_mismatched_spaces_are_refused_at_trace_time(argument, space):
    spaces = location_spaces(**{argument: space})
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(LocationHead(NUM_XFERS, hidden_layers=None), spaces)
    assert caught.value.argument == argument


def test_bad_arguments_name_the_key():
    with pytest.raises(SpecError) as caught:
        LocationHead(3, xfer_embedding_size=0, key_path="location")
    assert caught.value.key_path == "location.xfer_embedding_size"
