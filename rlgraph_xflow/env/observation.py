"""The environment's observation, documented once (dissertation section 3.2.3).

Functions: observation_space (the Space of a batched observation),
concatenate_graphs and batch_observations (batching single-graph
observations, graph_nets' layout).

Field names (use the constants, not string literals):
  GRAPH_TUPLE      the computation graph as a graph_nets GraphsTuple: one node
                   per engine op (features: op-type one-hot, then the op's
                   estimated runtime), one edge per tensor use (features: the
                   tensor's dims, see EDGE_FEATURE_SIZE), globals: the graph's
                   cost metrics (GLOBAL_FEATURE_SIZE).
  XFER_TUPLES      int32 [N, L, K]: for xfer i and location j, the indices
                   (local to the graph's nodes) of the ops the xfer's source
                   pattern matched, padded with -1. A location head scores a
                   location from the embeddings of these nodes, so no
                   candidate graph is ever materialised.
  LOCATION_MASKS   bool [N, L]: location j of xfer i is valid. Masks are
                   prefixes: valid iff j < count[i].
  XFER_MASK        bool [N + 1]: xfer i has at least one location; the last
                   entry is NO-OP and always valid.

N is the number of xfers in the rule library, L the location cap (default
200), K the largest source pattern (in ops). With a batch of B graphs every
field gains a leading batch dimension, and the graphs concatenate into one
GraphsTuple (graph_nets' convention).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from rlgraph_xflow.core.spaces import GRAPH_FIELDS, BoolBox, Dict, GraphSpace, IntBox

GRAPH_TUPLE = "graph_tuple"
XFER_TUPLES = "xfer_tuples"
LOCATION_MASKS = "location_masks"
XFER_MASK = "xfer_mask"
FIELDS = (GRAPH_TUPLE, XFER_TUPLES, LOCATION_MASKS, XFER_MASK)

# Edge features: up to 4 dims of the tensor (log-scaled by the env), padded.
EDGE_FEATURE_SIZE = 4
# Globals: runtime, FLOPs, memory access, kernel launches (scaled by the env).
GLOBAL_FEATURE_SIZE = 4
PADDING_INDEX = -1


def observation_space(num_xfers: int, max_locations: int, max_pattern_ops: int, num_op_types: int,
                      max_nodes: int = 8) -> Dict:
    """The observation space of an environment with these sizes.

    Args:
        num_xfers: N, the number of xfers (NO-OP not included).
        max_locations: L, the location cap per xfer.
        max_pattern_ops: K, the most ops any source pattern matches.
        num_op_types: width of the op-type one-hot (node features are this
            plus one runtime feature).
        max_nodes: the most nodes GraphSpace.sample puts in a sampled graph.

    Returns:
        A Dict space with a batch rank, keyed by FIELDS.
    """
    return Dict(
        {
            GRAPH_TUPLE: GraphSpace(num_op_types + 1, EDGE_FEATURE_SIZE, GLOBAL_FEATURE_SIZE, max_nodes=max_nodes),
            XFER_TUPLES: IntBox(high=2**31 - 1, low=PADDING_INDEX, shape=(num_xfers, max_locations, max_pattern_ops)),
            LOCATION_MASKS: BoolBox((num_xfers, max_locations)),
            XFER_MASK: BoolBox((num_xfers + 1,)),
        },
        batch_rank=True,
    )


def concatenate_graphs(graphs: Sequence) -> "GraphsTuple":
    """One GraphsTuple holding `graphs` in order.

    Args:
        graphs: GraphsTuples (each may already hold several graphs).

    Returns:
        A GraphsTuple whose senders and receivers index the concatenated nodes.

    Raises:
        ValueError: for an empty sequence or a value that is not a GraphsTuple.
    """
    from graph_nets import graphs as graphs_module

    if not graphs:
        raise ValueError("concatenate_graphs needs at least one GraphsTuple, got none")
    for index, graph in enumerate(graphs):
        missing = [field for field in GRAPH_FIELDS if getattr(graph, field, None) is None]
        if missing:
            raise ValueError(f"concatenate_graphs: item {index} is not a complete GraphsTuple (missing or None: {missing})")
    node_counts = [int(np.sum(graph.n_node)) for graph in graphs]
    offsets = np.concatenate([[0], np.cumsum(node_counts)[:-1]]).astype(np.int32)
    return graphs_module.GraphsTuple(
        nodes=np.concatenate([np.asarray(g.nodes, np.float32) for g in graphs]),
        edges=np.concatenate([np.asarray(g.edges, np.float32) for g in graphs]),
        globals=np.concatenate([np.asarray(g.globals, np.float32) for g in graphs]),
        senders=np.concatenate([np.asarray(g.senders, np.int32) + o for g, o in zip(graphs, offsets)]),
        receivers=np.concatenate([np.asarray(g.receivers, np.int32) + o for g, o in zip(graphs, offsets)]),
        n_node=np.concatenate([np.asarray(g.n_node, np.int32) for g in graphs]),
        n_edge=np.concatenate([np.asarray(g.n_edge, np.int32) for g in graphs]),
    )


def batch_observations(observations: Sequence[dict]) -> dict:
    """One batched observation from single-graph observations.

    The graphs concatenate into one GraphsTuple; the other fields stack along
    a new leading batch dimension.
    """
    if not observations:
        raise ValueError("batch_observations needs at least one observation")
    batched = {GRAPH_TUPLE: concatenate_graphs([observation[GRAPH_TUPLE] for observation in observations])}
    for field in (XFER_TUPLES, LOCATION_MASKS, XFER_MASK):
        batched[field] = np.stack([observation[field] for observation in observations])
    return batched
