"""Registered components that agents are composed of.

Importing this package registers every component type, so YAML specs can
name them. Sub-packages: layers (dense building blocks), encoders (the graph
network encoder), heads (action distributions and values), samplers (the
two-stage xfer/location action), policies (network + head), losses (GAE,
PPO), optimizers (Adam), memories (the world model's MDN-RNN).
"""
from rlgraph_xflow.components import (  # noqa: F401  (registration)
    encoders,
    heads,
    layers,
    losses,
    memories,
    optimizers,
    policies,
    samplers,
)
