"""GNEncoder: numpy twin, permutation equivariance, batching, seeding, errors."""
import numpy as np
import pytest

from rlgraph_xflow.components.encoders import GNEncoder
from rlgraph_xflow.core import ComponentTest, FloatBox, GraphSpace, SpaceError, SpaceMismatchError, SpecError
from graph_nets import graphs as graphs_module

from tests.components.numpy_reference import graph_network_encoder
from tests.components.synthetic_observations import random_graphs

SPACE = GraphSpace(5, 3, 4)
LATENT = 8


@pytest.fixture(scope="module")
def two_round_test():
    return ComponentTest(GNEncoder(latent_size=LATENT, message_passing_rounds=2, seed=1), {"graphs": SPACE})


def _graphs(seed, num_graphs=3, **kwargs):
    return random_graphs(np.random.default_rng(seed), num_graphs, SPACE.node_size, SPACE.edge_size, SPACE.global_size, **kwargs)


def test_output_shapes_and_every_sonnet_variable_is_registered(two_round_test):
    graphs = _graphs(0)
    nodes, latent = two_round_test.test(("encode", (graphs,)))
    assert nodes.shape == (graphs.n_node.sum(), LATENT) and latent.shape == (3, LATENT)
    encoder = two_round_test.component
    registered = {id(v) for v in encoder.variables.values()}
    assert registered == {id(v) for v in encoder.network.trainable_variables}
    # encoder + core, each 3 blocks of (2 linear layers w, b + layer norm scale, offset).
    assert len(encoder.variables) == 2 * 3 * (2 * 2 + 2)


def test_two_rounds_match_the_numpy_twin(two_round_test):
    graphs = _graphs(1)
    expected = graph_network_encoder(graphs, two_round_test.read_variable_values(), "gn_encoder", rounds=2)
    two_round_test.test(("encode", (graphs,)), expected_outputs=expected, decimals=4)
    two_round_test.test(("global_latent", (graphs,)), expected_outputs=expected[1], decimals=4)


def test_one_round_without_layer_norm_matches_the_numpy_twin():
    test = ComponentTest(GNEncoder(latent_size=LATENT, mlp_layers=1, message_passing_rounds=1, layer_norm=False),
                         {"graphs": SPACE}, apis=["encode"])
    graphs = _graphs(2)
    expected = graph_network_encoder(graphs, test.read_variable_values(), "gn_encoder", rounds=1, with_layer_norm=False)
    test.test(("encode", (graphs,)), expected_outputs=expected, decimals=4)


def test_default_five_rounds_match_the_numpy_twin():
    encoder = GNEncoder(latent_size=LATENT)
    assert encoder.message_passing_rounds == 5
    test = ComponentTest(encoder, {"graphs": SPACE}, apis=["encode"])
    graphs = _graphs(3)
    expected = graph_network_encoder(graphs, test.read_variable_values(), "gn_encoder", rounds=5)
    test.test(("encode", (graphs,)), expected_outputs=expected, decimals=4)


def test_node_embeddings_are_permutation_equivariant_and_z_invariant(two_round_test):
    rng = np.random.default_rng(4)
    graph = _graphs(4, num_graphs=1, n_node=[6])
    permutation = rng.permutation(6)           # new node k is old node permutation[k]
    new_index_of_old = np.argsort(permutation)
    edge_order = rng.permutation(len(graph.senders))
    permuted = graph.replace(
        nodes=graph.nodes[permutation],
        senders=new_index_of_old[graph.senders][edge_order].astype(np.int32),
        receivers=new_index_of_old[graph.receivers][edge_order].astype(np.int32),
        edges=graph.edges[edge_order])
    nodes, latent = two_round_test.test(("encode", (graph,)))
    permuted_nodes, permuted_latent = two_round_test.test(("encode", (permuted,)))
    np.testing.assert_allclose(permuted_nodes, nodes[permutation], atol=1e-5)
    np.testing.assert_allclose(permuted_latent, latent, atol=1e-5)
    assert not np.allclose(nodes[0], nodes[1]), "distinct nodes should get distinct embeddings"


def test_a_batch_of_two_graphs_equals_each_graph_alone(two_round_test):
    first, second = _graphs(5, num_graphs=1), _graphs(6, num_graphs=1)
    offset = first.n_node[0]
    batch = graphs_module.GraphsTuple(
        nodes=np.concatenate([first.nodes, second.nodes]), edges=np.concatenate([first.edges, second.edges]),
        globals=np.concatenate([first.globals, second.globals]),
        senders=np.concatenate([first.senders, second.senders + offset]).astype(np.int32),
        receivers=np.concatenate([first.receivers, second.receivers + offset]).astype(np.int32),
        n_node=np.concatenate([first.n_node, second.n_node]), n_edge=np.concatenate([first.n_edge, second.n_edge]))
    nodes, latent = two_round_test.test(("encode", (batch,)))
    for graph, node_slice, index in ((first, slice(0, offset), 0), (second, slice(offset, None), 1)):
        alone_nodes, alone_latent = two_round_test.test(("encode", (graph,)))
        np.testing.assert_allclose(nodes[node_slice], alone_nodes, atol=1e-5)
        np.testing.assert_allclose(latent[index], alone_latent[0], atol=1e-5)


def test_gradients_reach_every_variable(two_round_test):
    import tensorflow as tf

    encoder = two_round_test.component
    graphs = _graphs(7)
    tensors = graphs.map(tf.convert_to_tensor, fields=graphs._fields)
    with tf.GradientTape() as tape:
        nodes, latent = encoder._graph_fn_encode(tensors)
        objective = tf.reduce_sum(nodes ** 2) + tf.reduce_sum(latent ** 2)
    gradients = tape.gradient(objective, list(encoder.variables.values()))
    missing = [name for name, gradient in zip(encoder.variables, gradients) if gradient is None]
    assert not missing


def test_initialisation_is_seeded():
    def values(seed):
        test = ComponentTest(GNEncoder(latent_size=4, message_passing_rounds=0, seed=seed), {"graphs": SPACE}, apis=["global_latent"])
        return test.read_variable_values()
    first, again, other = values(3), values(3), values(4)
    assert sorted(first) == sorted(again)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.allclose(first["gn_encoder/encoder/node_model/mlp/linear_0/w"], other["gn_encoder/encoder/node_model/mlp/linear_0/w"])


def test_a_non_graph_input_is_refused_at_trace_time():
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(GNEncoder(latent_size=4), {"graphs": FloatBox((5,), batch_rank=True)})
    assert caught.value.argument == "graphs" and "GraphSpace" in str(caught.value)


def test_a_graph_with_wrong_feature_width_is_refused_at_run_time(two_round_test):
    graphs = random_graphs(np.random.default_rng(8), 2, 6, SPACE.edge_size, SPACE.global_size)
    with pytest.raises(SpaceError, match="argument 'graphs'.*field nodes"):
        two_round_test.test(("encode", (graphs,)))


@pytest.mark.parametrize("arguments, key", [
    ({"latent_size": 0}, "encoder.latent_size"),
    ({"message_passing_rounds": -1}, "encoder.message_passing_rounds"),
    ({"mlp_layers": 1.5}, "encoder.mlp_layers"),
    ({"layer_norm": "yes"}, "encoder.layer_norm"),
])
def test_bad_arguments_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        GNEncoder(key_path="encoder", **arguments)
    assert caught.value.key_path == key
