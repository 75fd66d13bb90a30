"""Synthetic observations for component tests: random graphs and xfer data.

Functions in this file:
  random_graphs: a GraphsTuple of small random graphs with consistent offsets.
  random_xfer_data: xfer_tuples, location_masks and xfer_mask shaped and
    structured like the environment's (prefix masks, -1 padding, valid
    entries index real nodes of their own graph, NO-OP always valid).
  random_observations: both, as one observation dict keyed like the env's.
"""
import numpy as np
from graph_nets import graphs as graphs_module

from rlgraph_xflow.env import observation as observation_fields


def random_graphs(rng, num_graphs, node_size, edge_size, global_size, min_nodes=1, max_nodes=6, n_node=None):
    """Random graphs concatenated into one GraphsTuple (graph_nets' layout)."""
    if n_node is None:
        n_node = rng.integers(min_nodes, max_nodes + 1, size=num_graphs)
    n_node = np.asarray(n_node, np.int32)
    n_edge = np.array([rng.integers(0, 2 * count + 1) for count in n_node], np.int32)
    offsets = np.concatenate([[0], np.cumsum(n_node)[:-1]])
    senders = np.concatenate([rng.integers(0, n, size=e) + o for n, e, o in zip(n_node, n_edge, offsets)] + [np.zeros(0)])
    receivers = np.concatenate([rng.integers(0, n, size=e) + o for n, e, o in zip(n_node, n_edge, offsets)] + [np.zeros(0)])
    return graphs_module.GraphsTuple(
        nodes=rng.standard_normal((int(n_node.sum()), node_size)).astype(np.float32),
        edges=rng.standard_normal((int(n_edge.sum()), edge_size)).astype(np.float32),
        globals=rng.standard_normal((num_graphs, global_size)).astype(np.float32),
        senders=senders.astype(np.int32), receivers=receivers.astype(np.int32),
        n_node=n_node, n_edge=n_edge)


def random_xfer_data(rng, n_node, num_xfers, max_locations, max_pattern_ops, empty_fraction=0.3):
    """(xfer_tuples [B, N, L, K], location_masks [B, N, L], xfer_mask [B, N + 1])."""
    batch = len(n_node)
    tuples = np.full((batch, num_xfers, max_locations, max_pattern_ops), -1, np.int32)
    counts = rng.integers(1, max_locations + 1, size=(batch, num_xfers))
    counts[rng.random((batch, num_xfers)) < empty_fraction] = 0
    for b in range(batch):
        for i in range(num_xfers):
            for j in range(counts[b, i]):
                matched = rng.integers(1, max_pattern_ops + 1)
                tuples[b, i, j, :matched] = rng.integers(0, n_node[b], size=matched)
    location_masks = np.arange(max_locations)[None, None, :] < counts[:, :, None]
    xfer_mask = np.concatenate([counts > 0, np.ones((batch, 1), bool)], axis=1)
    return tuples, location_masks, xfer_mask


def random_observations(rng, batch, num_xfers, max_locations, max_pattern_ops, node_size=5, edge_size=4, global_size=4,
                        max_nodes=6):
    """An observation batch keyed by the environment's field names."""
    graphs = random_graphs(rng, batch, node_size, edge_size, global_size, max_nodes=max_nodes)
    tuples, location_masks, xfer_mask = random_xfer_data(rng, graphs.n_node, num_xfers, max_locations, max_pattern_ops)
    return {
        observation_fields.GRAPH_TUPLE: graphs,
        observation_fields.XFER_TUPLES: tuples,
        observation_fields.LOCATION_MASKS: location_masks,
        observation_fields.XFER_MASK: xfer_mask,
    }


def policy_inputs(rng, batch, num_xfers, max_locations, max_pattern_ops, latent_size, graphs=None):
    """Consistent inputs for the heads and the sampler, keyed by their API argument names.

    z and node_embeddings are random (as an encoder's outputs would be, in
    shape); node_embeddings has one row per node of `graphs`. xfers and
    locations are a valid action per graph (NO-OP takes location 0).
    """
    if graphs is None:
        graphs = random_graphs(rng, batch, 5, 4, 4)
    tuples, location_masks, xfer_mask = random_xfer_data(rng, graphs.n_node, num_xfers, max_locations, max_pattern_ops)
    xfers = np.array([rng.choice(np.flatnonzero(row)) for row in xfer_mask], np.int32)
    locations = np.array([0 if x == num_xfers else rng.choice(np.flatnonzero(location_masks[b, x])) for b, x in enumerate(xfers)], np.int32)
    return {
        "z": rng.standard_normal((len(graphs.n_node), latent_size)).astype(np.float32),
        "node_embeddings": rng.standard_normal((int(np.sum(graphs.n_node)), latent_size)).astype(np.float32),
        "graphs": graphs,
        "xfer_tuples": tuples,
        "location_masks": location_masks,
        "xfer_mask": xfer_mask,
        "xfers": xfers,
        "locations": locations,
    }


def policy_spaces(num_xfers, max_locations, max_pattern_ops, latent_size, node_size=5, edge_size=4, global_size=4):
    """The spaces of policy_inputs' values."""
    from rlgraph_xflow.core import BoolBox, FloatBox, GraphSpace, IntBox

    return {
        "z": FloatBox((latent_size,), batch_rank=True),
        "node_embeddings": FloatBox((latent_size,), batch_rank=True),
        "graphs": GraphSpace(node_size, edge_size, global_size),
        "xfer_tuples": IntBox(high=2**31 - 1, low=-1, shape=(num_xfers, max_locations, max_pattern_ops), batch_rank=True),
        "location_masks": BoolBox((num_xfers, max_locations), batch_rank=True),
        "xfer_mask": BoolBox((num_xfers + 1,), batch_rank=True),
        "xfers": IntBox(num_xfers + 1, batch_rank=True),
        "locations": IntBox(max_locations, batch_rank=True),
    }
