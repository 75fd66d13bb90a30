"""Policy: observations -> network -> action head."""
from __future__ import annotations

from typing import Any, Optional

from rlgraph_xflow.core import Component, api, from_spec, register


@register("policy")
class Policy(Component):
    """A policy composed of a network and an action head, both from specs.

    Args:
        network: spec of the feature network (e.g. {type: mlp, layers: [64]}).
        head: spec of the action head (e.g. {type: categorical_head, num_actions: 4}).
    """

    def __init__(self, network: Any, head: Any, scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        prefix = f"{key_path}." if key_path else ""
        self.network = from_spec(network, f"{prefix}network", scope="network")
        self.head = from_spec(head, f"{prefix}head", scope="head")
        self.add_components(self.network, self.head)

    @api
    def get_action(self, observations):
        """Samples an action for each observation."""
        return self.head.sample_action(self.network.apply(observations))

    @api
    def get_greedy_action(self, observations):
        """The most likely action for each observation."""
        return self.head.greedy_action(self.network.apply(observations))

    @api
    def get_log_prob(self, observations, actions):
        """log pi(actions | observations)."""
        return self.head.log_prob(self.network.apply(observations), actions)

    @api
    def get_entropy(self, observations):
        """Entropy of pi(. | observations)."""
        return self.head.entropy(self.network.apply(observations))
