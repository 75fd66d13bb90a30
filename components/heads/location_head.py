"""LocationHead: scores the locations of a chosen xfer from node embeddings.

A location of xfer i is the set of graph nodes its source pattern matched
(`xfer_tuples[b, i, j, :]`, local node indices padded with -1). The head
mean-pools the embeddings of those nodes, appends a learned embedding of the
xfer id, and an MLP gives one score per location; invalid locations get
MASKED_LOGIT. No candidate graph is materialised (see the observation module).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from rlgraph_xflow.components.heads.xfer_policy_head import check_layer_widths, mask_logits
from rlgraph_xflow.components.layers.activations import check_activation
from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.components.layers.initializers import component_seed
from rlgraph_xflow.components.layers.mlp import MLP
from rlgraph_xflow.core import BoolBox, Component, FloatBox, GraphSpace, IntBox, api, graph_fn, register
from rlgraph_xflow.core.validation import check_positive_int


def chosen_location_mask(location_masks, xfers, num_xfers: int):
    """The location mask [B, L] of each row's chosen xfer (TF ops; call inside a graph_fn).

    NO-OP (xfer == num_xfers) has no locations of its own: only location 0 is
    allowed, so its location log-probability and entropy are 0.
    """
    import tensorflow as tf

    xfers = tf.cast(xfers, tf.int32)
    rows = tf.minimum(xfers, num_xfers - 1)
    mask = tf.gather(location_masks, rows, axis=1, batch_dims=1)
    only_first = tf.equal(tf.range(tf.shape(mask)[1]), 0)[None, :]
    return tf.where((xfers == num_xfers)[:, None], tf.broadcast_to(only_first, tf.shape(mask)), mask)


@register("location_head")
class LocationHead(Component):
    """Masked location logits [B, L] for one chosen xfer per graph.

    Args:
        num_xfers: N; xfer ids are in [0, N], N being NO-OP.
        xfer_embedding_size: width of the learned xfer-id embedding.
        hidden_layers: widths of the scoring MLP before its one-unit output.
        activation: activation of the hidden layers.
        seed: initializer seed.

    API:
        logits(node_embeddings [total_nodes, D], graphs (GraphsTuple; only
            n_node is read, to offset local node indices), xfer_tuples int
            [B, N, L, K], location_masks bool [B, N, L], xfers int [B])
            -> masked logits [B, L].

    For NO-OP (xfers == N) only location 0 is valid, so the location
    distribution is a point mass: log-probability 0 and entropy 0, and the
    joint log-probability of a NO-OP is the xfer head's alone. (NO-OP's
    location features pool no nodes: only its xfer embedding is scored.)

    Valid entries of the chosen xfer's row must index nodes of the same
    graph; an index >= that graph's n_node stops the call with an
    InvalidArgumentError naming xfer_tuples.
    """

    def __init__(self, num_xfers: int, xfer_embedding_size: int = 16, hidden_layers: Optional[Sequence[int]] = (64,),
                 activation: str = "relu", seed: int = 0, scope: Optional[str] = None, device: Optional[str] = None,
                 key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "location_head"
        self.num_xfers = check_positive_int(num_xfers, f"{where}.num_xfers")
        self.xfer_embedding_size = check_positive_int(xfer_embedding_size, f"{where}.xfer_embedding_size")
        widths = check_layer_widths(hidden_layers, f"{where}.hidden_layers")
        activation = check_activation(activation, f"{where}.activation")
        self.seed = seed
        self.hidden = MLP(widths, activation=activation, seed=seed, scope="hidden", key_path=f"{where}.hidden_layers") if widths else None
        self.score_layer = Dense(1, seed=seed, scope="score", key_path=where)
        self.add_components(*([self.hidden] if self.hidden else []), self.score_layer)

    def create_variables(self, input_spaces):
        rng = np.random.default_rng(component_seed(self.global_scope, self.seed))
        self.xfer_embedding = self.get_variable(
            "xfer_embedding", (self.num_xfers + 1, self.xfer_embedding_size),
            initializer=lambda shape, dtype: rng.normal(0.0, 1.0, size=shape).astype(dtype))

    @api
    def logits(self, node_embeddings, graphs, xfer_tuples, location_masks, xfers):
        """Masked location logits [B, L] of the xfer `xfers[b]` of each graph b."""
        features = self._graph_fn_location_features(node_embeddings, graphs, xfer_tuples, xfers)
        if self.hidden is not None:
            features = self.hidden.apply(features)
        return self._graph_fn_masked_scores(self.score_layer.apply(features), location_masks, xfers)

    @graph_fn
    def _graph_fn_location_features(self, node_embeddings, graphs, xfer_tuples, xfers):
        import tensorflow as tf

        xfers = tf.cast(xfers, tf.int32)
        n_node = tf.cast(graphs.n_node, tf.int32)
        # NO-OP has no row in xfer_tuples: read any row, then treat all its
        # entries as padding, so a NO-OP's location features hold no nodes.
        rows = tf.minimum(xfers, self.num_xfers - 1)
        local = tf.gather(tf.cast(xfer_tuples, tf.int32), rows, axis=1, batch_dims=1)  # [B, L, K]
        valid = tf.logical_and(local >= 0, (xfers < self.num_xfers)[:, None, None])
        tf.debugging.assert_equal(
            tf.shape(n_node)[0], tf.shape(local)[0],
            message=f"{self.global_scope}: graphs.n_node and xfer_tuples disagree on the number of graphs")
        tf.debugging.assert_less(
            tf.where(valid, local, -1), tf.broadcast_to(n_node[:, None, None], tf.shape(local)),
            message=f"{self.global_scope}: xfer_tuples of the chosen xfer hold a node index >= n_node of the same graph "
                    "(indices must be local to each graph); x = indices [B, L, K], y = n_node broadcast",
            summarize=16)
        offsets = tf.cumsum(n_node, exclusive=True)
        global_index = tf.where(valid, local + offsets[:, None, None], 0)
        gathered = tf.gather(node_embeddings, global_index)  # [B, L, K, D]
        weights = tf.cast(valid, node_embeddings.dtype)[..., None]
        counts = tf.reduce_sum(weights, axis=2)  # [B, L, 1]
        pooled = tf.reduce_sum(gathered * weights, axis=2) / tf.maximum(counts, 1.0)
        embedded = tf.gather(self.xfer_embedding, xfers)  # [B, E]
        embedded = tf.broadcast_to(embedded[:, None, :], tf.concat([tf.shape(pooled)[:2], [self.xfer_embedding_size]], 0))
        return tf.concat([pooled, embedded], axis=-1)

    @_graph_fn_location_features.output_spaces
    def _graph_fn_location_features(self, node_embeddings, graphs, xfer_tuples, xfers):
        self.require(isinstance(node_embeddings, FloatBox) and node_embeddings.rank == 1 and node_embeddings.batch_rank
                     and not node_embeddings.time_rank, "node_embeddings", "a FloatBox [total_nodes, D]", node_embeddings)
        self.require(isinstance(graphs, GraphSpace), "graphs", "a GraphSpace (its n_node offsets the local node indices)", graphs)
        self.require(isinstance(xfer_tuples, IntBox) and xfer_tuples.rank == 3 and xfer_tuples.shape[0] == self.num_xfers
                     and xfer_tuples.batch_rank and not xfer_tuples.time_rank and xfer_tuples.low >= -1,
                     "xfer_tuples", f"an IntBox [B, N={self.num_xfers}, L, K] of local node indices >= -1", xfer_tuples)
        self._check_xfers(xfers)
        locations = xfer_tuples.shape[1]
        return FloatBox((locations, node_embeddings.shape[0] + self.xfer_embedding_size), batch_rank=True)

    def _check_xfers(self, xfers):
        self.require(isinstance(xfers, IntBox) and xfers.shape == () and xfers.batch_rank and not xfers.time_rank
                     and xfers.low >= 0 and xfers.high is not None and xfers.high <= self.num_xfers + 1,
                     "xfers", f"an IntBox [B] of xfer ids in [0, {self.num_xfers}] ({self.num_xfers} is NO-OP)", xfers)

    @graph_fn
    def _graph_fn_masked_scores(self, scores, location_masks, xfers):
        import tensorflow as tf

        return mask_logits(tf.squeeze(scores, axis=-1), chosen_location_mask(location_masks, xfers, self.num_xfers))

    @_graph_fn_masked_scores.output_spaces
    def _graph_fn_masked_scores(self, scores, location_masks, xfers):
        self.require(isinstance(location_masks, BoolBox) and location_masks.rank == 2 and location_masks.shape[0] == self.num_xfers
                     and location_masks.shape[1] == scores.shape[0] and location_masks.batch_rank and not location_masks.time_rank,
                     "location_masks", f"a BoolBox [B, N={self.num_xfers}, L={scores.shape[0]}] (L as in xfer_tuples)", location_masks)
        self._check_xfers(xfers)
        return FloatBox((scores.shape[0],), batch_rank=True)
