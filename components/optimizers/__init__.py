"""Optimizers that update component variables inside the built tf.functions."""
from rlgraph_xflow.components.optimizers.adam import Adam

__all__ = ["Adam"]
