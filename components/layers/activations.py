"""Activation functions by name, as YAML configs spell them."""
from __future__ import annotations

import difflib

from rlgraph_xflow.core.registry import SpecError

ACTIVATION_NAMES = ("linear", "relu", "tanh", "sigmoid", "elu", "gelu", "softplus")


def check_activation(name, key_path: str = "activation") -> str:
    """Returns `name` if it is a known activation, else raises SpecError."""
    if name is None:
        return "linear"
    if name not in ACTIVATION_NAMES:
        close = difflib.get_close_matches(str(name), ACTIVATION_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(key_path, f"unknown activation {name!r}{hint} Known: {', '.join(ACTIVATION_NAMES)}")
    return name


def apply_activation(name: str, tensor):
    """Applies the named activation with TF ops (call inside a graph_fn)."""
    import tensorflow as tf

    if name == "linear":
        return tensor
    return getattr(tf.nn, name)(tensor)
