"""Agent: the interface every agent (learning or baseline) offers the execution loop.

Classes and functions in this file:
  merged_spec: a component spec with an agent's defaults filled in.
  ObservationSizes: the sizes an agent's spaces are derived from (taken from
    the environment, so the YAML never repeats them).
  Agent: act on a batched observation, learn from a filled rollout buffer,
    save and restore everything that determines future behaviour.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Optional

from rlgraph_xflow import ops
from rlgraph_xflow.core.registry import SpecError


@dataclasses.dataclass(frozen=True)
class ObservationSizes:
    """N xfers, L locations per xfer, K ops per pattern, node feature width."""

    num_xfers: int
    max_locations: int
    max_pattern_ops: int
    node_feature_size: int

    @classmethod
    def of_env(cls, env) -> "ObservationSizes":
        return cls(env.num_xfers, env.max_locations, env.max_pattern_ops, ops.node_feature_size())


class Agent:
    """Base class of agents.

    Subclasses implement act and, if they learn, update; save/restore cover
    every variable (weights, optimizer slots, sampler random streams).
    """

    learns = True
    # Whether a run may train it on training.pretraining's environment first
    # (rlgraph_xflow.runs.agent_run.pretrain): its trainer must start from the
    # agent's current weights and keep nothing of an earlier environment.
    pretrainable = False

    def act(self, observations: dict, greedy: bool = False) -> dict:
        """Actions for a batched observation.

        Returns:
            {"xfers": [B], "locations": [B], and agent-specific extras such as
            "log_probs" and "values"}.
        """
        raise NotImplementedError

    def update(self, buffer) -> dict:
        """Learns from a full rollout buffer; returns scalar metrics."""
        raise NotImplementedError

    def bootstrap_values(self, observations: dict):
        """Value estimates of the observations after a rollout (for GAE)."""
        raise NotImplementedError

    def make_trainer(self, execution, run_dir: str, training: dict, seed: int):
        """The object whose run(resume) trains this agent and returns a TrainingSummary.

        Args:
            execution: where real-environment rollouts come from.
            run_dir: the run directory (metrics.csv, tensorboard/, checkpoints/).
            training: the config's `training:` settings.
            seed: the run's seed.
        """
        raise NotImplementedError

    def save(self, path: str) -> str:
        raise NotImplementedError

    def restore(self, path: str) -> None:
        raise NotImplementedError

    @property
    def build_stats(self) -> Optional[object]:
        return None


def merged_spec(default: dict, given: Any, key_path: str) -> dict:
    """The default spec updated by the given one (a given type replaces it)."""
    if given is None:
        return copy.deepcopy(default)
    if isinstance(given, str):
        given = {"type": given}
    if not isinstance(given, dict):
        raise SpecError(key_path, f"expected a component spec (a mapping with 'type'), got {given!r}")
    if "type" in given and given["type"] != default["type"]:
        return copy.deepcopy(given)
    return {**copy.deepcopy(default), **given}
