"""LatentDualActionSampler: the two-stage (xfer, then location) action from a state latent.

Classes in this file:
  LatentDualActionSampler: MaskedDualActionSampler's sampling, greedy choice
    and log-probabilities, with a LatentLocationHead: both heads read one
    state feature vector per row (the world-model controller's [z, h])
    instead of a graph's node embeddings, so the same sampler acts inside
    the world model, where no graph exists, and in the real environment.
"""
from __future__ import annotations

from rlgraph_xflow.components.heads.latent_location_head import LatentLocationHead
from rlgraph_xflow.components.samplers.masked_dual_action_sampler import MaskedDualActionSampler
from rlgraph_xflow.core import api, register


@register("latent_dual_action_sampler")
class LatentDualActionSampler(MaskedDualActionSampler):
    """Samples, picks greedily, or evaluates (xfer, location) actions from state features.

    Args:
        num_xfers: N (xfer ids are in [0, N], N being NO-OP).
        xfer_head: spec of the xfer head (default {type: xfer_policy_head}).
        location_head: spec of the location head (default {type:
            latent_location_head}); num_xfers is filled in.
        seed: seed of the sampler's random stream (a checkpointed variable).

    Common API arguments: features [B, F], location_masks bool [B, N, L],
    xfer_mask bool [B, N + 1].

    API:
        sample_actions(features, location_masks, xfer_mask)
        greedy_actions(features, location_masks, xfer_mask)
            -> {xfers, locations, log_probs, xfer_log_probs,
                location_log_probs, xfer_entropy, location_entropy}, each [B].
        evaluate_actions(features, location_masks, xfer_mask, xfers, locations)
            -> the same without xfers and locations, for the given actions.
    """

    def _head_from_spec(self, spec, name: str, kind: type, where: str):
        # The parent builds its location head as a LocationHead (node
        # embeddings); this sampler's reads state features instead.
        if name == "location_head":
            kind = LatentLocationHead
        return super()._head_from_spec(spec, name, kind, where)

    @api
    def sample_actions(self, features, location_masks, xfer_mask):
        """Draws x ~ p(x | s), then l ~ p(l | s, x)."""
        xfer_logits = self.xfer_head.logits(features, xfer_mask)
        xfers = self._graph_fn_sample(xfer_logits)
        location_logits = self.location_head.logits(features, location_masks, xfers)
        return self._scored_actions(xfer_logits, location_logits, xfers, self._graph_fn_sample(location_logits))

    @api
    def greedy_actions(self, features, location_masks, xfer_mask):
        """The most likely x, then the most likely l given that x."""
        xfer_logits = self.xfer_head.logits(features, xfer_mask)
        xfers = self._graph_fn_argmax(xfer_logits)
        location_logits = self.location_head.logits(features, location_masks, xfers)
        return self._scored_actions(xfer_logits, location_logits, xfers, self._graph_fn_argmax(location_logits))

    @api
    def evaluate_actions(self, features, location_masks, xfer_mask, xfers, locations):
        """Log-probabilities and entropies of given actions (location head conditioned on the given xfers)."""
        xfer_logits = self.xfer_head.logits(features, xfer_mask)
        location_logits = self.location_head.logits(features, location_masks, xfers)
        scored = self._scored_actions(xfer_logits, location_logits, xfers, locations)
        return {key: value for key, value in scored.items() if key not in ("xfers", "locations")}
