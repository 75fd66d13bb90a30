"""Action heads: turn features into action distributions."""
from rlgraph_xflow.components.heads.categorical_head import CategoricalHead

__all__ = ["CategoricalHead"]
