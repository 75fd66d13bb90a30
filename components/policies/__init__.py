"""Policies: a network followed by an action head."""
from rlgraph_xflow.components.policies.policy import Policy

__all__ = ["Policy"]
