"""Dense: a fully connected layer, y = activation(x W + b)."""
from __future__ import annotations

from typing import Optional

from rlgraph_xflow.components.layers.activations import apply_activation, check_activation
from rlgraph_xflow.components.layers.initializers import component_seed, glorot_uniform
from rlgraph_xflow.core import Component, FloatBox, api, graph_fn, register
from rlgraph_xflow.core.validation import check_positive_int


@register("dense")
class Dense(Component):
    """A fully connected layer over the last axis of its input.

    Args:
        units: output width.
        activation: name of the activation ("relu", "tanh", ... or "linear").
        use_bias: whether to add a bias.
        seed: initializer seed (combined with the component's scope).
    """

    def __init__(self, units: int, activation: Optional[str] = None, use_bias: bool = True, seed: int = 0,
                 scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        self.units = check_positive_int(units, f"{key_path or 'dense'}.units")
        self.activation = check_activation(activation, f"{key_path or 'dense'}.activation")
        self.use_bias = use_bias
        self.seed = seed

    def create_variables(self, input_spaces):
        in_width = input_spaces["inputs"].shape[-1]
        initializer = glorot_uniform(component_seed(self.global_scope, self.seed))
        self.kernel = self.get_variable("kernel", (in_width, self.units), initializer=initializer)
        self.bias = self.get_variable("bias", (self.units,)) if self.use_bias else None

    @api
    def apply(self, inputs):
        """Returns activation(inputs W + b)."""
        return self._graph_fn_apply(inputs)

    @graph_fn
    def _graph_fn_apply(self, inputs):
        import tensorflow as tf

        outputs = tf.tensordot(inputs, self.kernel, axes=[[inputs.shape.rank - 1], [0]])
        if self.bias is not None:
            outputs = outputs + self.bias
        return apply_activation(self.activation, outputs)

    @_graph_fn_apply.output_spaces
    def _graph_fn_apply(self, inputs):
        self.require(isinstance(inputs, FloatBox) and inputs.rank >= 1, "inputs", "a FloatBox of rank >= 1 (features last)", inputs)
        known = self.input_spaces.get("inputs")
        self.require(known is None or known.shape[-1] == inputs.shape[-1], "inputs",
                     f"the feature width {known.shape[-1] if known else '?'} this layer was first called with", inputs)
        return FloatBox(inputs.shape[:-1] + (self.units,), batch_rank=inputs.batch_rank, time_rank=inputs.time_rank, time_major=inputs.time_major)
