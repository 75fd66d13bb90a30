"""Action and value heads: turn features into action distributions and values."""
from rlgraph_xflow.components.heads.categorical_head import CategoricalHead
from rlgraph_xflow.components.heads.latent_location_head import LatentLocationHead
from rlgraph_xflow.components.heads.location_head import LocationHead
from rlgraph_xflow.components.heads.value_head import ValueHead
from rlgraph_xflow.components.heads.xfer_policy_head import MASKED_LOGIT, XferPolicyHead

__all__ = ["CategoricalHead", "LatentLocationHead", "LocationHead", "MASKED_LOGIT", "ValueHead", "XferPolicyHead"]
