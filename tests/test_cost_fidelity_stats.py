"""The statistics of benchmarks/cost_fidelity.py: Spearman, sign agreement, the error of a predicted total.

The script is imported from its path (benchmarks/ is not a package); its
statistics need only numpy, so this file runs in well under a second.
"""
import math

import numpy as np
import pytest

from tests.script_helpers import load_benchmark



cost_fidelity = load_benchmark("cost_fidelity")


def _brute_force_ranks(values):
    """Rank of each value: 1 + how many are smaller + half of the others equal to it."""
    return [1 + sum(other < value for other in values) + (sum(other == value for other in values) - 1) / 2 for value in values]


def _brute_force_spearman(x, y):
    """Pearson's correlation of the brute-force ranks, in plain Python."""
    rx, ry = _brute_force_ranks(x), _brute_force_ranks(y)
    mean_x, mean_y = sum(rx) / len(rx), sum(ry) / len(ry)
    covariance = sum((a - mean_x) * (b - mean_y) for a, b in zip(rx, ry))
    return covariance / math.sqrt(sum((a - mean_x) ** 2 for a in rx) * sum((b - mean_y) ** 2 for b in ry))


def test_rank_average_gives_ties_their_average_rank():
    assert cost_fidelity.rank_average([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert cost_fidelity.rank_average([3, 3, 3]).tolist() == [2.0, 2.0, 2.0]
    assert cost_fidelity.rank_average([0.5, -1.0, 0.5, 0.5, 7.0]).tolist() == [3.0, 1.0, 3.0, 3.0, 5.0]


def test_spearman_hand_computed_with_a_tie():
    # y ranks: [1, 2, 3.5, 5, 3.5]; x ranks 1..5. Pearson of those ranks by hand:
    # deviations x: [-2, -1, 0, 1, 2]; y: [-2, -1, 0.5, 2, 0.5]; covariance 4 + 1 + 0 + 2 + 1 = 8;
    # sum of squares x 10, y 4 + 1 + 0.25 + 4 + 0.25 = 9.5; rho = 8 / sqrt(95).
    assert cost_fidelity.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95), abs=1e-12)


def test_spearman_without_ties_matches_the_textbook_formula():
    x, y = [3.1, 0.2, 5.5, 4.0, 1.7, 2.2], [30, 12, 41, 50, 1, 25]
    d = np.array(_brute_force_ranks(x)) - np.array(_brute_force_ranks(y))
    n = len(x)
    assert cost_fidelity.spearman(x, y) == pytest.approx(1 - 6 * float(np.sum(d * d)) / (n * (n * n - 1)), abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_spearman_matches_brute_force_on_random_data_with_ties(seed):
    generator = np.random.default_rng(seed)
    size = int(generator.integers(3, 30))
    # Few distinct values, so ties are common on both sides.
    x = generator.integers(0, 6, size).astype(float).tolist()
    y = (generator.integers(0, 4, size) * 0.5).tolist()
    if len(set(x)) < 2 or len(set(y)) < 2:
        x[0], x[1], y[0], y[1] = 0.0, 1.0, 0.0, 1.0
    assert cost_fidelity.spearman(x, y) == pytest.approx(_brute_force_spearman(x, y), abs=1e-12)


def test_spearman_extremes_and_undefined_cases():
    assert cost_fidelity.spearman([1, 2, 3, 4], [10, 100, 1000, 10000]) == pytest.approx(1.0)
    assert cost_fidelity.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(cost_fidelity.spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(cost_fidelity.spearman([1.0], [2.0]))
    with pytest.raises(ValueError, match="same length"):
        cost_fidelity.spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        cost_fidelity.spearman([1, float("nan")], [1, 2])


def test_total_error_is_the_median_relative_error_in_percent():
    assert cost_fidelity.relative_error_pct(1.5, 2.0) == pytest.approx(-25.0)
    assert cost_fidelity.relative_error_pct(3.0, 2.0) == pytest.approx(50.0)
    # Errors: +100%, -50%, +10% -> median +10%.
    assert cost_fidelity.total_error_pct([2.0, 1.0, 11.0], [1.0, 2.0, 10.0]) == pytest.approx(10.0)
    # Even count: the median averages the two middle errors (-50% and +10%).
    assert cost_fidelity.total_error_pct([1.0, 11.0], [2.0, 10.0]) == pytest.approx(-20.0)
    assert math.isnan(cost_fidelity.total_error_pct([], []))
    with pytest.raises(ValueError, match="> 0"):
        cost_fidelity.total_error_pct([1.0], [0.0])
    with pytest.raises(ValueError, match="same length"):
        cost_fidelity.total_error_pct([1.0, 2.0], [1.0])


def test_sign_agreement_counts_only_pairs_beyond_the_noise():
    Pair = cost_fidelity.PairChange
    pairs = [
        Pair(-0.1, -0.2, True),   # agree
        Pair(0.3, 0.05, True),    # agree
        Pair(-0.1, 0.2, True),    # disagree
        Pair(0.0, -0.3, True),    # a predicted change of exactly 0 disagrees
        Pair(-0.2, -0.4, True),   # agree
        Pair(1.0, -1.0, False),   # within the noise: not counted
    ]
    result = cost_fidelity.sign_agreement_pct(pairs)
    assert (result.agree, result.counted) == (3, 5)
    assert result.percent == pytest.approx(60.0)


def test_sign_agreement_is_na_below_five_pairs():
    Pair = cost_fidelity.PairChange
    four = [Pair(1.0, 1.0, True)] * 4 + [Pair(1.0, 1.0, False)] * 10
    result = cost_fidelity.sign_agreement_pct(four)
    assert result.percent is None and result.counted == 4 and result.agree == 4
    assert cost_fidelity.format_figure(result.percent) == "n/a"
    assert cost_fidelity.sign_agreement_pct(four + [Pair(-1.0, 2.0, True)]).percent == pytest.approx(80.0)
    assert cost_fidelity.sign_agreement_pct([]).percent is None


def test_spread_beyond_noise_and_figure_format():
    assert cost_fidelity.spread_beyond_noise([10.0, 10.5, 11.0], noise=0.02)      # 10% spread > 4%
    assert not cost_fidelity.spread_beyond_noise([10.0, 10.1, 10.3], noise=0.02)  # 3% spread < 4%
    assert cost_fidelity.format_figure(0.12345) == "0.12"
    assert cost_fidelity.format_figure(-97.1) == "-97.10"
    assert cost_fidelity.format_figure(float("nan")) == "n/a"


def test_summary_line_format():
    records = [
        {"graph": "squeezenet1_1", "cost_models": {"m": {"spearman": 0.5, "total_error_pct": -12.345, "sign_agreement_pct": None}}},
        {"graph": "keras:VGG16", "cost_models": {"m": {"spearman": None, "total_error_pct": 3.0, "sign_agreement_pct": 80.0}}},
    ]
    assert cost_fidelity.summary_line(records, "m") == "cost_fidelity squeezenet1_1=0.50/-12.35/n/a keras:VGG16=n/a/3.00/80.00"


def test_a_graph_that_could_not_be_exported_shows_as_failed_on_the_last_line():
    records = [
        {"graph": "keras:VGG16", "failed": "exporting keras:VGG16 failed (exit status -9): killed by signal 9 (out of memory?)"},
        {"graph": "resnet18", "cost_models": {"m": {"spearman": 0.49, "total_error_pct": -1.52, "sign_agreement_pct": None}}},
    ]
    assert cost_fidelity.summary_line(records, "m") == "cost_fidelity keras:VGG16=failed resnet18=0.49/-1.52/n/a"
