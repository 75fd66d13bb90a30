"""Neural-network building blocks: Dense, MLP, and the activation table."""
from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.components.layers.mlp import MLP

__all__ = ["Dense", "MLP"]
