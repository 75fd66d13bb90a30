"""ValueHead: the state value V(s) from the graph latent z."""
from __future__ import annotations

from typing import Optional, Sequence

from rlgraph_xflow.components.heads.xfer_policy_head import check_layer_widths
from rlgraph_xflow.components.layers.activations import check_activation
from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.components.layers.mlp import MLP
from rlgraph_xflow.core import Component, FloatBox, api, graph_fn, register


@register("value_head")
class ValueHead(Component):
    """One scalar value per graph.

    Args:
        hidden_layers: widths of an optional MLP before the one-unit output.
        activation: activation of the hidden layers.
        seed: initializer seed.

    API:
        value(z [B, D]) -> values [B]
    """

    def __init__(self, hidden_layers: Optional[Sequence[int]] = None, activation: str = "relu", seed: int = 0,
                 scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "value_head"
        widths = check_layer_widths(hidden_layers, f"{where}.hidden_layers")
        activation = check_activation(activation, f"{where}.activation")
        self.hidden = MLP(widths, activation=activation, seed=seed, scope="hidden", key_path=f"{where}.hidden_layers") if widths else None
        self.output_layer = Dense(1, seed=seed, scope="output", key_path=where)
        self.add_components(*([self.hidden] if self.hidden else []), self.output_layer)

    @api
    def value(self, z):
        """V(s) for each graph's latent."""
        features = self.hidden.apply(z) if self.hidden is not None else z
        return self._graph_fn_squeeze(self.output_layer.apply(features))

    @graph_fn
    def _graph_fn_squeeze(self, outputs):
        import tensorflow as tf

        return tf.squeeze(outputs, axis=-1)

    @_graph_fn_squeeze.output_spaces
    def _graph_fn_squeeze(self, outputs):
        self.require(outputs.shape == (1,) and outputs.batch_rank and not outputs.time_rank, "z",
                     "a FloatBox [B, D] (one latent vector per graph, no time rank); the output computed from it has this space", outputs)
        return FloatBox((), batch_rank=True)
