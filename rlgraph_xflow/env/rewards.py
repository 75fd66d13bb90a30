"""Reward functions of the graph-optimisation environment (dissertation 3.2.4).

Classes and functions in this file:
  CostMetrics: the four cost metrics of a graph at one step.
  IncrementalReward: r_t = RT(t-1) - RT(t), the runtime saved by the step.
  WeightedReward: r_t = alpha * (RT(t-1) - RT(t)) + beta * (M(t-1) - M(t)),
    M being memory accesses; the dissertation found alpha=0.8, beta=0.2 best.
  BestSoFarReward: r_t = max(0, min_{s<t} RT(s) - RT(t)), the runtime by
    which the step beats the episode's cheapest graph so far.
  REWARDS / reward_from_spec: the registry a YAML `reward: {type: ...}` uses.

All three rewards can be normalised by the initial graph's metrics
(`normalize: true`), which makes rewards comparable across graphs whose
runtimes differ by orders of magnitude; memory accesses are then normalised
by the initial memory accesses, so alpha and beta weigh relative savings.
Without normalisation the memory term is in MB so it is on the scale of the
runtime term in ms. An invalid action is rewarded `invalid_reward` (-100 by
default) by the environment, not by these functions.
"""
from __future__ import annotations

import dataclasses

from rlgraph_xflow.core.registry import Registry
from rlgraph_xflow.core.validation import check_bool, check_number, is_number

REWARDS = Registry("reward")
BYTES_PER_MEGABYTE = 1e6


@dataclasses.dataclass(frozen=True)
class CostMetrics:
    runtime_ms: float
    flops: float
    mem_access_bytes: float
    kernel_launches: int


class Reward:
    """Base class: turns the metrics before and after a step into a reward.

    Args:
        normalize: divide by the initial graph's metrics (set by `reset`).
    """

    def __init__(self, normalize: bool = False, key_path: str = "reward"):
        self.normalize = check_bool(normalize, f"{key_path}.normalize")
        self.initial: CostMetrics | None = None

    def reset(self, initial: CostMetrics) -> None:
        """Remembers the episode's initial metrics (used to normalise)."""
        if self.normalize and (initial.runtime_ms <= 0 or initial.mem_access_bytes <= 0):
            raise ValueError(f"cannot normalise rewards by a graph with runtime {initial.runtime_ms} ms and {initial.mem_access_bytes} bytes")
        self.initial = initial

    def _runtime_saved(self, before: CostMetrics, after: CostMetrics) -> float:
        saved = before.runtime_ms - after.runtime_ms
        return saved / self.initial.runtime_ms if self.normalize else saved

    def _memory_saved(self, before: CostMetrics, after: CostMetrics) -> float:
        saved = before.mem_access_bytes - after.mem_access_bytes
        return saved / self.initial.mem_access_bytes if self.normalize else saved / BYTES_PER_MEGABYTE

    def __call__(self, before: CostMetrics, after: CostMetrics) -> float:
        raise NotImplementedError

    def get_state(self) -> dict:
        """What set_state needs to continue the episode (empty: the reward keeps no episode state)."""
        return {}

    def set_state(self, state: dict) -> None:
        """Continues an episode from get_state's dict (after `reset`)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no episode state, got {state!r:.200}")


@REWARDS.register("incremental")
class IncrementalReward(Reward):
    """RT(t-1) - RT(t): the runtime the step saved."""

    def __call__(self, before, after):
        return float(self._runtime_saved(before, after))


@REWARDS.register("weighted")
class WeightedReward(Reward):
    """alpha * runtime saved + beta * memory accesses saved.

    Args:
        alpha: weight of the runtime term.
        beta: weight of the memory-access term.
        normalize: see Reward.
    """

    def __init__(self, alpha: float = 0.8, beta: float = 0.2, normalize: bool = False, key_path: str = "reward"):
        super().__init__(normalize, key_path)
        self.alpha = check_number(alpha, f"{key_path}.alpha")
        self.beta = check_number(beta, f"{key_path}.beta")

    def __call__(self, before, after):
        return float(self.alpha * self._runtime_saved(before, after) + self.beta * self._memory_saved(before, after))


@REWARDS.register("best_so_far")
class BestSoFarReward(Reward):
    """max(0, best - RT(t)), best being the cheapest runtime of the episode before the step.

    An episode's return is then the initial runtime minus the cheapest graph
    it reached, which is what a run exports (the cheapest prefix), not minus
    its last graph. A step that makes the graph slower costs nothing, so a
    rewrite chain whose first steps cost a kernel launch and whose last ones
    save two (GELU's 1/sqrt(2) chain on bert_base) is worth starting
    whenever it is ever finished; under IncrementalReward starting it pays
    only when it is finished more than half the time.

    Args:
        normalize: see Reward.
    """

    def __init__(self, normalize: bool = False, key_path: str = "reward"):
        super().__init__(normalize, key_path)
        self.best_runtime_ms: float | None = None

    def reset(self, initial):
        super().reset(initial)
        self.best_runtime_ms = float(initial.runtime_ms)

    def __call__(self, before, after):
        if self.best_runtime_ms is None:
            raise RuntimeError("BestSoFarReward called before reset()")
        saved = max(0.0, self.best_runtime_ms - after.runtime_ms)
        self.best_runtime_ms = min(self.best_runtime_ms, float(after.runtime_ms))
        return float(saved / self.initial.runtime_ms if self.normalize else saved)

    def get_state(self):
        return {"best_runtime_ms": self.best_runtime_ms}

    def set_state(self, state):
        if not isinstance(state, dict) or set(state) != {"best_runtime_ms"} or not is_number(state["best_runtime_ms"]):
            raise ValueError(f"BestSoFarReward.set_state: expected {{'best_runtime_ms': float}}, got {state!r:.200}")
        self.best_runtime_ms = float(state["best_runtime_ms"])


def reward_from_spec(spec, key_path: str = "env.reward") -> Reward:
    """Builds a reward from `"incremental"`, `{type: weighted, alpha: ..}` or an instance."""
    return REWARDS.from_spec(spec, key_path, base=Reward)
