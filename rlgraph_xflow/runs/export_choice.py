"""The export choice of an agent run: which graphs it may export, cheapest first.

Classes and functions in this file:
  GREEDY_POLICY, SAMPLED_POLICY, BEST_TRAINING_EPISODE: where a candidate
    comes from (result.json's result_source); ORIGINAL: the source when every
    candidate measured slower and the original graph was exported.
  ExportChoice: the candidates a run may export, cheapest first, and every
    candidate's episode.
  select_exported_graph: ranks the greedy policy's graph, the best graph of
    the sampled policy's episodes and the best graph training reached by
    estimated cost (the last two rebuilt by replaying their exact steps, and
    checked to reach the recorded runtime).
  export_candidates: the ranked candidates as the verified export takes them
    (rlgraph_xflow.optimize.pipeline.ExportCandidate), each with the
    result.json fields that describe it.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from rlgraph_xflow.execution.episodes import replay_steps
from rlgraph_xflow.optimize.pipeline import ExportCandidate

GREEDY_POLICY, SAMPLED_POLICY, BEST_TRAINING_EPISODE = "greedy_policy", "sampled_policy", "best_training_episode"
# result_source when every candidate measured slower than the original and the original was exported.
ORIGINAL = "original"


@dataclasses.dataclass
class ExportChoice:
    """What a run may export, in the order it tries the candidates.

    Attributes:
        exported: the EpisodeResult of the cheapest candidate (what the run
            exports unless it measures slower than the original).
        source: its source: GREEDY_POLICY, SAMPLED_POLICY or BEST_TRAINING_EPISODE.
        candidates: source -> its EpisodeResult, for every candidate the run
            had (the sampled and training ones replayed).
        ranked: the candidates' sources, cheapest first (ties in preference order).
    """

    exported: Any
    source: str
    candidates: dict
    ranked: list


def select_exported_graph(env, greedy_episode, best_training_prefix, best_sampled_prefix=None) -> ExportChoice:
    """Ranks the graphs a run may export by estimated cost; the cheapest comes first.

    Args:
        env: an XflowEnv like the training environments (used to replay).
        greedy_episode: the greedy policy's EpisodeResult.
        best_training_prefix: the trainer's BestTrainingPrefix, or None.
        best_sampled_prefix: the cheapest graph the sampled policy's episodes
            reached, as a BestTrainingPrefix (runtime and steps), or None.

    Returns:
        The ExportChoice. On equal cost the greedy policy's graph comes first,
        then the sampled policy's: what the trained policy does comes before
        what training happened to meet.

    Raises:
        ReplayMismatch: replaying a prefix does not reach its recorded
            runtime (a non-deterministic environment).
    """
    candidates = {GREEDY_POLICY: greedy_episode}
    for source, prefix in ((SAMPLED_POLICY, best_sampled_prefix), (BEST_TRAINING_EPISODE, best_training_prefix)):
        if prefix is not None:
            candidates[source] = replay_steps(env, prefix.steps, prefix.runtime_ms)
    # sorted is stable, and candidates are in preference order.
    ranked = sorted(candidates, key=lambda name: candidates[name].final_runtime_ms)
    return ExportChoice(candidates[ranked[0]], ranked[0], candidates, ranked)


def export_candidates(choice: ExportChoice, initial_cost_ms: float) -> list[ExportCandidate]:
    """The choice's candidates, cheapest first, each with its final_cost_ms, cost_reduction, applied, steps and result_source."""
    candidates = []
    for source in choice.ranked:
        episode = choice.candidates[source]
        candidates.append(ExportCandidate(source, episode.final_graph, episode.applied_steps, {
            "final_cost_ms": episode.final_runtime_ms,
            "cost_reduction": (initial_cost_ms - episode.final_runtime_ms) / initial_cost_ms if initial_cost_ms > 0 else 0.0,
            "applied": episode.applied_xfer_names,
            "steps": [list(step) for step in episode.applied_steps],
            "result_source": source,
        }))
    return candidates
