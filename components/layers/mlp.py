"""MLP: a stack of Dense layers."""
from __future__ import annotations

from typing import Optional, Sequence

from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.core import Component, SpecError, api, register


@register("mlp")
class MLP(Component):
    """Dense layers applied in order.

    Args:
        layers: the width of each layer, e.g. [64, 64].
        activation: activation of every layer but the last.
        output_activation: activation of the last layer (default: activation).
        seed: initializer seed.
    """

    def __init__(self, layers: Sequence[int], activation: str = "relu", output_activation: Optional[str] = None,
                 seed: int = 0, scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "mlp"
        if not isinstance(layers, (list, tuple)) or not layers:
            raise SpecError(f"{where}.layers", f"expected a non-empty list of layer widths, got {layers!r}")
        self.layers = []
        for index, units in enumerate(layers):
            last = index == len(layers) - 1
            self.layers.append(Dense(units, activation=(output_activation or activation) if last else activation, seed=seed,
                                     scope=f"dense_{index}", key_path=f"{where}.layers[{index}]"))
        self.add_components(*self.layers)

    @api
    def apply(self, inputs):
        """Runs the inputs through every layer."""
        for layer in self.layers:
            inputs = layer.apply(inputs)
        return inputs
