"""plots: moving average against hand-computed values; plot functions' bad input, the wide heatmap, the improvement bars."""
import numpy as np
import pytest
from PIL import Image

from rlgraph_xflow.reporting.plots import (
    ImprovementBar,
    default_moving_average_window,
    moving_average,
    plot_cost_curve,
    plot_reward_curve,
    plot_runtime_improvement,
    plot_xfer_heatmap,
)
from rlgraph_xflow.reporting.xfer_counts import count_xfer_applications


def test_moving_average_equals_hand_computed_trailing_means():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    np.testing.assert_allclose(moving_average(values, 1), values)
    np.testing.assert_allclose(moving_average(values, 2), [1.0, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(moving_average(values, 3), [1.0, 1.5, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(moving_average(values, 10), [1.0, 1.5, 2.0, 2.5, 3.0])
    assert moving_average([], 3).shape == (0,)


def test_moving_average_rejects_bad_windows():
    for window in (0, -2, 1.5, True, "3"):
        with pytest.raises(ValueError, match="window must be an integer >= 1"):
            moving_average([1.0, 2.0], window)


def test_default_window_is_a_tenth_between_1_and_100():
    assert [default_moving_average_window(count) for count in (0, 5, 19, 20, 200, 5000)] == [1, 1, 1, 2, 20, 100]


def test_curves_reject_empty_or_mismatched_series(tmp_path):
    with pytest.raises(ValueError, match="reward curve: nothing to plot"):
        plot_reward_curve(tmp_path / "reward.png", [], [])
    with pytest.raises(ValueError, match=r"cost curve: env_steps and values must be 1-D and of equal length, found shapes \(3,\) and \(2,\)"):
        plot_cost_curve(tmp_path / "cost.png", [1, 2, 3], [1.0, 2.0], initial_cost_ms=3.0)
    assert list(tmp_path.iterdir()) == []


def test_heatmap_rejects_counts_without_applications(tmp_path):
    with pytest.raises(ValueError, match="no xfer was applied"):
        plot_xfer_heatmap(tmp_path / "heatmap.png", count_xfer_applications([[], []], ["a"]))


def test_wide_heatmap_without_cell_labels_renders(tmp_path):
    generator = np.random.default_rng(3)
    episodes = [list(generator.integers(0, 3, size=60)) for _ in range(4)]
    path = tmp_path / "heatmap.png"
    plot_xfer_heatmap(path, count_xfer_applications(episodes, ["a", "b", "c"]))
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 700
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 10
    assert [entry.name for entry in tmp_path.iterdir()] == ["heatmap.png"]


def test_runtime_improvement_bars_render_the_same_bytes_and_reject_bad_bars(tmp_path):
    bars = [ImprovementBar("resnet18", "ppo", 0.03, 0.02, "faster"), ImprovementBar("resnet18", "greedy", -0.01, 0.02, "same"),
            ImprovementBar("bert_base", "world_model", 0.12, 0.04, "faster"), ImprovementBar("bert_base", "greedy", 0.0, 0.02, "same")]
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    plot_runtime_improvement(first, bars, runtime="onnxruntime CPU", protocol="7 alternating rounds x 10 runs")
    plot_runtime_improvement(second, bars, runtime="onnxruntime CPU", protocol="7 alternating rounds x 10 runs")
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert image.size[0] == 800 and image.size[1] >= 300
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_runtime_improvement(tmp_path / "none.png", [], runtime="onnxruntime CPU")
    with pytest.raises(ValueError, match="finite improvement and noise >= 0"):
        plot_runtime_improvement(tmp_path / "nan.png", [ImprovementBar("g", "ppo", float("nan"), 0.02, "same")], runtime="x")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["first.png", "second.png"]
