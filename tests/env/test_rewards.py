"""Reward functions against the dissertation's formulas, computed by hand."""
import numpy as np
import pytest

from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.env.rewards import BestSoFarReward, CostMetrics, IncrementalReward, WeightedReward, reward_from_spec

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


def _metrics(runtime_ms: float) -> CostMetrics:
    return CostMetrics(runtime_ms=runtime_ms, flops=1e9, mem_access_bytes=4e6, kernel_launches=20)


@pytest.mark.parametrize("normalize", [False, True])
def test_best_so_far_rewards_only_new_records(normalize):
    """Against a brute-force reference on a random runtime walk: r_t = max(0, min(RT(0..t-1)) - RT(t)), and the
    return is the initial runtime minus the cheapest one."""
    runtimes = 10.0 + np.cumsum(np.random.default_rng(5).normal(0.0, 0.4, size=40))
    runtimes[0] = 10.0
    reward = BestSoFarReward(normalize=normalize)
    reward.reset(_metrics(runtimes[0]))
    scale = runtimes[0] if normalize else 1.0
    got = [reward(_metrics(before), _metrics(after)) for before, after in zip(runtimes[:-1], runtimes[1:])]
    expected = [max(0.0, min(runtimes[:t]) - runtimes[t]) / scale for t in range(1, len(runtimes))]
    assert got == pytest.approx(expected, abs=1e-12)
    assert sum(got) == pytest.approx((runtimes[0] - runtimes.min()) / scale)
    assert any(value == 0.0 for value in got) and any(value > 0.0 for value in got)  # the walk has both kinds of step


def test_best_so_far_chain_that_costs_first_and_saves_later():
    """The case it is for: +1, 0, 0, -1, -1 launch (GELU's chain) pays 1 launch at its end and nothing before;
    abandoned after its first step it costs nothing, where the incremental reward charges the launch."""
    launch, runtimes = 0.01, [1.0, 1.01, 1.01, 1.01, 1.0, 0.99]
    best_so_far, incremental = BestSoFarReward(), IncrementalReward()
    for reward in (best_so_far, incremental):
        reward.reset(_metrics(runtimes[0]))
    chain = [best_so_far(_metrics(before), _metrics(after)) for before, after in zip(runtimes[:-1], runtimes[1:])]
    assert chain == pytest.approx([0.0, 0.0, 0.0, 0.0, launch])
    assert incremental(_metrics(1.0), _metrics(1.01)) == pytest.approx(-launch)


def test_best_so_far_state_continues_an_episode():
    reward = BestSoFarReward()
    reward.reset(_metrics(10.0))
    reward(_metrics(10.0), _metrics(8.0))
    assert reward.get_state() == {"best_runtime_ms": 8.0}
    restored = BestSoFarReward()
    restored.reset(_metrics(10.0))
    restored.set_state(reward.get_state())
    assert restored(_metrics(9.0), _metrics(8.5)) == reward(_metrics(9.0), _metrics(8.5)) == 0.0
    assert restored(_metrics(8.5), _metrics(7.0)) == pytest.approx(1.0)


@pytest.mark.parametrize("state", [{}, {"best": 1.0}, {"best_runtime_ms": "8"}, {"best_runtime_ms": True}, None])
def test_best_so_far_refuses_a_malformed_state(state):
    with pytest.raises(ValueError, match="best_runtime_ms"):
        BestSoFarReward().set_state(state)


def test_stateless_rewards_refuse_a_state_and_best_so_far_needs_reset():
    assert IncrementalReward().get_state() == {}
    IncrementalReward().set_state({})
    with pytest.raises(ValueError, match="keeps no episode state"):
        WeightedReward().set_state({"best_runtime_ms": 1.0})
    with pytest.raises(RuntimeError, match="before reset"):
        BestSoFarReward()(_metrics(1.0), _metrics(0.5))
    assert isinstance(reward_from_spec({"type": "best_so_far", "normalize": True}), BestSoFarReward)
    with pytest.raises(SpecError, match=r"env\.reward\.normalize"):
        reward_from_spec({"type": "best_so_far", "normalize": 1})
