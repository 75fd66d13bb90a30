"""Action samplers: draw (xfer, location) actions from the policy heads."""
from rlgraph_xflow.components.samplers.latent_dual_action_sampler import LatentDualActionSampler
from rlgraph_xflow.components.samplers.masked_dual_action_sampler import MaskedDualActionSampler

__all__ = ["LatentDualActionSampler", "MaskedDualActionSampler"]
