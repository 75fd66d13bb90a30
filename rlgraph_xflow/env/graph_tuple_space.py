"""GraphsTupleSpace: a gymnasium space whose elements are graph_nets GraphsTuples.

gymnasium's own Graph space has no globals and no per-graph counts, and our
observation is a graph_nets GraphsTuple (dissertation 3.2.3), so this space
wraps the core GraphSpace: membership and sampling are GraphSpace's.
"""
from __future__ import annotations

import gymnasium
import numpy as np

from rlgraph_xflow.core.spaces import GraphSpace


class GraphsTupleSpace(gymnasium.spaces.Space):
    """GraphsTuples of `num_graphs` graphs with the given feature sizes.

    Args:
        node_size, edge_size, global_size: feature widths.
        num_graphs: graphs per element (1 for one environment).
        max_nodes: the most nodes a sampled graph has.
    """

    def __init__(self, node_size: int, edge_size: int, global_size: int, num_graphs: int = 1, max_nodes: int = 8, seed=None):
        self.graph_space = GraphSpace(node_size, edge_size, global_size, max_nodes=max_nodes)
        self.num_graphs = int(num_graphs)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask=None, probability=None):
        if mask is not None or probability is not None:
            raise ValueError("GraphsTupleSpace.sample takes no mask or probability")
        return self.graph_space.sample(self.num_graphs, self.np_random)

    def contains(self, value) -> bool:
        if self.graph_space.mismatch(value) is not None:
            return False
        return np.asarray(value.n_node).shape == (self.num_graphs,)

    def mismatch(self, value):
        """Why `value` is not in the space, or None."""
        problem = self.graph_space.mismatch(value)
        if problem is None and np.asarray(value.n_node).shape != (self.num_graphs,):
            problem = f"expected {self.num_graphs} graph(s), got {np.asarray(value.n_node).shape[0]}"
        return problem

    def __eq__(self, other) -> bool:
        return isinstance(other, GraphsTupleSpace) and other.graph_space == self.graph_space and other.num_graphs == self.num_graphs

    def __repr__(self) -> str:
        space = self.graph_space
        return (f"GraphsTupleSpace(node_size={space.node_size}, edge_size={space.edge_size}, "
                f"global_size={space.global_size}, num_graphs={self.num_graphs})")
