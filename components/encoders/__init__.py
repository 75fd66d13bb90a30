"""Encoders: turn observations into latent features (the graph-network encoder)."""
from rlgraph_xflow.components.encoders.gn_encoder import GNEncoder

__all__ = ["GNEncoder"]
