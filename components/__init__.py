"""Registered components that agents are composed of.

Importing this package registers every component type, so YAML specs can
name them. Sub-packages: layers (dense building blocks), heads (action
distributions), policies (network + head).
"""
from rlgraph_xflow.components import heads, layers, policies  # noqa: F401  (registration)
