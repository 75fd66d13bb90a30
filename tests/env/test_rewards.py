"""Reward functions against the dissertation's formulas, computed by hand."""
import pytest

from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.env.rewards import CostMetrics, IncrementalReward, WeightedReward, reward_from_spec

INITIAL = CostMetrics(runtime_ms=10.0, flops=1e9, mem_access_bytes=4e6, kernel_launches=20)
BEFORE = CostMetrics(runtime_ms=8.0, flops=1e9, mem_access_bytes=3e6, kernel_launches=18)
AFTER = CostMetrics(runtime_ms=7.5, flops=1e9, mem_access_bytes=2e6, kernel_launches=17)


def test_incremental_is_runtime_saved():
    reward = IncrementalReward()
    reward.reset(INITIAL)
    assert reward(BEFORE, AFTER) == pytest.approx(0.5)
    assert reward(AFTER, BEFORE) == pytest.approx(-0.5)


def test_incremental_normalised_by_initial_runtime():
    reward = IncrementalReward(normalize=True)
    reward.reset(INITIAL)
    assert reward(BEFORE, AFTER) == pytest.approx(0.5 / 10.0)


def test_weighted_combines_runtime_and_memory_in_megabytes():
    reward = WeightedReward(alpha=0.8, beta=0.2)
    reward.reset(INITIAL)
    assert reward(BEFORE, AFTER) == pytest.approx(0.8 * 0.5 + 0.2 * 1.0)


def test_weighted_normalised():
    reward = WeightedReward(alpha=0.3, beta=0.7, normalize=True)
    reward.reset(INITIAL)
    assert reward(BEFORE, AFTER) == pytest.approx(0.3 * 0.05 + 0.7 * (1e6 / 4e6))


def test_from_spec_and_bad_specs():
    assert isinstance(reward_from_spec("incremental"), IncrementalReward)
    weighted = reward_from_spec({"type": "weighted", "alpha": 0.5, "beta": 0.5})
    assert (weighted.alpha, weighted.beta) == (0.5, 0.5)
    with pytest.raises(SpecError, match=r"env\.reward\.type: unknown reward type 'weigthed' \(did you mean 'weighted'\?\)"):
        reward_from_spec({"type": "weigthed"})
    with pytest.raises(SpecError, match=r"env\.reward\.gamma: reward type 'weighted' has no argument 'gamma'"):
        reward_from_spec({"type": "weighted", "gamma": 1})
    with pytest.raises(SpecError, match=r"env\.reward\.alpha: expected a number"):
        reward_from_spec({"type": "weighted", "alpha": "high"})
    with pytest.raises(SpecError, match=r"env\.reward\.normalize"):
        reward_from_spec({"type": "incremental", "normalize": "yes"})


def test_normalising_by_a_zero_cost_graph_is_refused():
    with pytest.raises(ValueError, match="cannot normalise"):
        IncrementalReward(normalize=True).reset(CostMetrics(0.0, 0.0, 0.0, 0))
