"""XferPolicyHead: masked logits over the N xfers plus NO-OP.

Also holds the masking rule shared by the policy heads: invalid actions get
MASKED_LOGIT (a large negative number, not -inf, so a fully masked row still
gives finite log-probabilities and gradients instead of NaN).
"""
from __future__ import annotations

from typing import Optional, Sequence

from rlgraph_xflow.components.layers.activations import check_activation
from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.components.layers.mlp import MLP
from rlgraph_xflow.core import BoolBox, Component, FloatBox, SpecError, api, graph_fn, register
from rlgraph_xflow.core.validation import check_positive_int, is_int

MASKED_LOGIT = -1e9


def check_layer_widths(layers, where: str) -> list:
    """Returns hidden layer widths as a list (possibly empty), else raises SpecError."""
    if layers is None:
        return []
    if not isinstance(layers, (list, tuple)) or any(not is_int(width) or width < 1 for width in layers):
        raise SpecError(where, f"expected a list of positive layer widths, got {layers!r}")
    return list(layers)


def mask_logits(logits, mask):
    """Where `mask` is False the logit becomes MASKED_LOGIT (TF ops)."""
    import tensorflow as tf

    return tf.where(mask, logits, tf.constant(MASKED_LOGIT, dtype=logits.dtype))


@register("xfer_policy_head")
class XferPolicyHead(Component):
    """Logits over N xfers and NO-OP (index N) from the graph latent z.

    Args:
        num_xfers: N, the number of xfers (the head outputs N + 1 logits).
        hidden_layers: widths of an optional MLP before the logits layer.
        activation: activation of the hidden layers.
        seed: initializer seed.

    API:
        logits(z [B, D], xfer_mask bool [B, N + 1]) -> masked logits [B, N + 1]
    """

    def __init__(self, num_xfers: int, hidden_layers: Optional[Sequence[int]] = None, activation: str = "relu",
                 seed: int = 0, scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "xfer_policy_head"
        self.num_xfers = check_positive_int(num_xfers, f"{where}.num_xfers")
        widths = check_layer_widths(hidden_layers, f"{where}.hidden_layers")
        activation = check_activation(activation, f"{where}.activation")
        self.hidden = MLP(widths, activation=activation, seed=seed, scope="hidden", key_path=f"{where}.hidden_layers") if widths else None
        self.logits_layer = Dense(self.num_xfers + 1, seed=seed, scope="logits", key_path=f"{where}.num_xfers")
        self.add_components(*([self.hidden] if self.hidden else []), self.logits_layer)

    @api
    def logits(self, z, xfer_mask):
        """Logits of the N + 1 actions; masked ones are MASKED_LOGIT."""
        features = self.hidden.apply(z) if self.hidden is not None else z
        return self._graph_fn_mask(self.logits_layer.apply(features), xfer_mask)

    @graph_fn
    def _graph_fn_mask(self, logits, xfer_mask):
        return mask_logits(logits, xfer_mask)

    @_graph_fn_mask.output_spaces
    def _graph_fn_mask(self, logits, xfer_mask):
        expected = (self.num_xfers + 1,)
        self.require(logits.shape == expected and logits.batch_rank and not logits.time_rank, "z",
                     "a FloatBox [B, D] (one latent vector per graph, no time rank); the logits computed from it have this space", logits)
        self.require(isinstance(xfer_mask, BoolBox) and xfer_mask.shape == expected and xfer_mask.batch_rank and not xfer_mask.time_rank,
                     "xfer_mask", f"a BoolBox of shape {expected} (N xfers + NO-OP) with a batch rank", xfer_mask)
        return FloatBox(expected, batch_rank=True)
