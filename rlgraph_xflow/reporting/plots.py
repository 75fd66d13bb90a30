"""The run report's PNG plots, drawn with matplotlib's Agg canvas.

Holds:
  moving_average: trailing mean over a window (shorter at the start).
  default_moving_average_window: the window used for a series of a given length.
  plot_reward_curve: episode reward against environment steps, with its moving average.
  plot_cost_curve: episode final cost (ms) against environment steps, with
    lines for the initial and the final (best) cost.
  plot_xfer_heatmap: which xfer was applied at which step of the episode,
    counted over episodes (the dissertation's Figure 4.11).
  ImprovementBar, plot_runtime_improvement: measured relative runtime
    improvement per graph, one bar per method, with its noise band (the
    dissertation's Figures 4.1, 4.3 and 4.7; `python -m rlgraph_xflow.evaluate`).

Figures are built on matplotlib.figure.Figure with an explicit Agg canvas,
never through pyplot: no global figure state, no interactive backend, no
window, and the same inputs give the same PNG bytes. Every PNG is written to
a temporary file and moved into place, so a reader never sees half an image.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
import textwrap
from typing import Optional, Sequence, Union

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.reporting.xfer_counts import XferStepCounts

_DOTS_PER_INCH = 100
_CURVE_SIZE_INCHES = (8.0, 4.5)
# Matplotlib stamps its version into PNG metadata; leaving it out keeps the
# bytes the same across matplotlib upgrades too.
_PNG_METADATA = {"Software": None}
# Cell labels stay readable up to about this many columns.
_MOST_ANNOTATED_COLUMNS = 40


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean: element i is the mean of values[max(0, i - window + 1) : i + 1].

    Args:
        values: the series.
        window: how many values each mean covers, >= 1.

    Returns:
        float64 array of len(values).

    Raises:
        ValueError: window is not an integer >= 1.
    """
    if not is_int(window, allow_numpy=True) or window < 1:
        raise ValueError(f"moving average window must be an integer >= 1, found {window!r}")
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def default_moving_average_window(count: int) -> int:
    """A tenth of the series, between 1 and 100 points: smooth, yet still following trends."""
    return int(min(100, max(1, count // 10)))


def _new_figure(size_inches: tuple[float, float]) -> Figure:
    figure = Figure(figsize=size_inches, dpi=_DOTS_PER_INCH, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Union[str, os.PathLike]) -> None:
    path = pathlib.Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp.png", dir=path.parent)
    os.close(descriptor)
    try:
        figure.savefig(temporary, format="png", dpi=_DOTS_PER_INCH, metadata=_PNG_METADATA)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _checked_series(env_steps: Sequence[float], values: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    env_steps = np.asarray(env_steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if env_steps.ndim != 1 or env_steps.shape != values.shape:
        raise ValueError(f"{what}: env_steps and values must be 1-D and of equal length, found shapes {env_steps.shape} and {values.shape}")
    if len(values) == 0:
        raise ValueError(f"{what}: nothing to plot (no points)")
    return env_steps, values


def _plot_series_with_average(axes, env_steps: np.ndarray, values: np.ndarray, label: str, window: Optional[int]) -> int:
    window = default_moving_average_window(len(values)) if window is None else window
    axes.plot(env_steps, values, marker=".", markersize=3, linewidth=0.8, alpha=0.4, color="tab:blue", label=label)
    axes.plot(env_steps, moving_average(values, window), linewidth=2.0, color="tab:orange",
              label=f"moving average ({window} episodes)")
    axes.set_xlabel("environment steps (count)")
    axes.grid(True, alpha=0.3)
    return window


def plot_reward_curve(
    path: Union[str, os.PathLike],
    env_steps: Sequence[float],
    episode_rewards: Sequence[float],
    *,
    reward_unit: str = "ms",
    subtitle: str = "",
    window: Optional[int] = None,
) -> None:
    """Writes a PNG of episode reward against environment steps.

    Args:
        path: the PNG to write.
        env_steps: environment steps taken when each episode ended.
        episode_rewards: each episode's summed reward.
        reward_unit: the reward's unit for the axis label ("ms" for the
            incremental runtime reward; say "fraction of initial runtime" for
            the normalised one).
        subtitle: appended to the title (for example the model name).
        window: moving-average window; default_moving_average_window if None.

    Raises:
        ValueError: the series are empty or of different lengths.
    """
    env_steps, episode_rewards = _checked_series(env_steps, episode_rewards, "reward curve")
    figure = _new_figure(_CURVE_SIZE_INCHES)
    axes = figure.add_subplot()
    _plot_series_with_average(axes, env_steps, episode_rewards, "episode reward", window)
    axes.set_ylabel(f"episode reward ({reward_unit})")
    axes.set_title("Episode reward during training" + (f": {subtitle}" if subtitle else ""))
    axes.legend(loc="best")
    _save(figure, path)


def plot_cost_curve(
    path: Union[str, os.PathLike],
    env_steps: Sequence[float],
    episode_final_costs_ms: Sequence[float],
    *,
    initial_cost_ms: float,
    final_cost_ms: Optional[float] = None,
    subtitle: str = "",
    window: Optional[int] = None,
) -> None:
    """Writes a PNG of each episode's final graph cost against environment steps.

    Args:
        path: the PNG to write.
        env_steps: environment steps taken when each episode ended.
        episode_final_costs_ms: the estimated runtime (ms) of each episode's last graph.
        initial_cost_ms: the original graph's cost, drawn as a horizontal line.
        final_cost_ms: the run's result (best graph) cost, drawn as a second
            horizontal line when given.
        subtitle: appended to the title (for example the model name).
        window: moving-average window; default_moving_average_window if None.

    Raises:
        ValueError: the series are empty or of different lengths.
    """
    env_steps, episode_final_costs_ms = _checked_series(env_steps, episode_final_costs_ms, "cost curve")
    figure = _new_figure(_CURVE_SIZE_INCHES)
    axes = figure.add_subplot()
    _plot_series_with_average(axes, env_steps, episode_final_costs_ms, "episode final cost", window)
    axes.axhline(initial_cost_ms, color="tab:red", linestyle="--", linewidth=1.2, label=f"initial cost ({initial_cost_ms:.4g} ms)")
    if final_cost_ms is not None:
        axes.axhline(final_cost_ms, color="tab:green", linestyle=":", linewidth=1.5, label=f"final cost ({final_cost_ms:.4g} ms)")
    axes.set_ylabel("estimated graph runtime (ms)")
    axes.set_title("Episode final cost during training" + (f": {subtitle}" if subtitle else ""))
    axes.legend(loc="best")
    _save(figure, path)


def plot_xfer_heatmap(path: Union[str, os.PathLike], step_counts: XferStepCounts, *, subtitle: str = "") -> None:
    """Writes a PNG heatmap: rows are xfers (by name), columns step indices, colour the count.

    Each row label carries the xfer's total count; cells with a non-zero
    count are labelled with it while there are at most 40 columns.

    Args:
        path: the PNG to write.
        step_counts: from count_xfer_applications.
        subtitle: appended to the title (for example the model name).

    Raises:
        ValueError: step_counts holds no application (nothing to draw).
    """
    counts = step_counts.counts
    if counts.size == 0:
        raise ValueError("xfer heatmap: no xfer was applied in any episode, nothing to draw")
    rows, columns = counts.shape
    width = float(np.clip(4.0 + 0.3 * columns, 7.0, 16.0))
    height = float(np.clip(1.8 + 0.32 * rows, 3.5, 24.0))
    figure = _new_figure((width, height))
    axes = figure.add_subplot()
    image = axes.imshow(counts, aspect="auto", cmap="Blues", vmin=0, interpolation="nearest")
    axes.set_yticks(range(rows), [f"{name} ({total})" for name, total in zip(step_counts.xfer_names, counts.sum(axis=1))])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(columns, 20)))
    # Columns are 0-based indices; people count steps from 1.
    axes.xaxis.set_major_formatter(FuncFormatter(lambda position, _: f"{int(round(position)) + 1}"))
    axes.set_xlim(-0.5, columns - 0.5)
    axes.set_xlabel("step in episode (1 = first application)")
    axes.set_ylabel("xfer (name, total applications)")
    episodes = step_counts.episode_count
    axes.set_title(
        f"Xfers applied at each episode step, over {episodes} episode{'s' if episodes != 1 else ''}"
        + (f": {subtitle}" if subtitle else "")
    )
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label("applications (count)")
    colorbar.locator = MaxNLocator(integer=True)
    colorbar.update_ticks()
    if columns <= _MOST_ANNOTATED_COLUMNS:
        largest = counts.max()
        for row, column in zip(*np.nonzero(counts)):
            value = counts[row, column]
            axes.text(column, row, str(value), ha="center", va="center", fontsize=7,
                      color="white" if value > largest / 2 else "black")
    _save(figure, path)


@dataclasses.dataclass(frozen=True)
class ImprovementBar:
    """One bar of plot_runtime_improvement.

    Attributes:
        graph: the graph's name (one group of bars).
        method: what produced the optimized graph (greedy, backtracking, ppo, world_model, ...).
        improvement: 1 - optimized / original latency, as a fraction (positive: faster).
        noise: the noise band's half-width, as a fraction (>= 0).
        verdict: "faster", "same" or "slower"; a "same" bar is drawn hatched.
    """

    graph: str
    method: str
    improvement: float
    noise: float
    verdict: str


# Methods in the dissertation's order (baselines first, then the agents); others follow by name.
_METHOD_ORDER = ("greedy", "backtracking", "ppo", "world_model")


def plot_runtime_improvement(path: Union[str, os.PathLike], bars: Sequence[ImprovementBar], *, runtime: str,
                             protocol: str = "") -> None:
    """Writes a PNG of horizontal bars: each graph's relative runtime improvement, one bar per method.

    The layout of the dissertation's Figures 4.1, 4.3 and 4.7: graphs down
    the y-axis, the relative runtime improvement (%) along the x-axis (higher
    is better), one colour per method. Each bar carries its noise band as an
    error bar and its value as a label; a bar whose verdict is "same" (the
    change is within the noise) is hatched.

    Args:
        path: the PNG to write.
        bars: the measured improvements (at least one).
        runtime: the runtime and device they were measured in, for the title
            (e.g. "onnxruntime CPU").
        protocol: the timing protocol, printed under the title.

    Raises:
        ValueError: no bars, or a bar with a non-finite improvement or a negative noise.
    """
    if not bars:
        raise ValueError("runtime improvement plot: nothing to plot (no bars)")
    for bar in bars:
        if not isinstance(bar, ImprovementBar) or not (np.isfinite(bar.improvement) and np.isfinite(bar.noise) and bar.noise >= 0):
            raise ValueError(f"runtime improvement plot: expected ImprovementBars with a finite improvement and noise >= 0, found {bar!r}")
    graphs = list(dict.fromkeys(bar.graph for bar in bars))
    present = set(bar.method for bar in bars)
    methods = [method for method in _METHOD_ORDER if method in present] + sorted(present - set(_METHOD_ORDER))
    colours = {method: f"C{index % 10}" for index, method in enumerate(methods)}
    height = 0.8 / len(methods)
    figure = _new_figure((8.0, float(np.clip(1.5 + 0.45 * len(bars) + 0.3 * len(graphs), 3.0, 20.0))))
    axes = figure.add_subplot()
    for bar in bars:
        row = graphs.index(bar.graph)
        # The first graph at the top, methods in order within a group, as the dissertation draws them.
        y = (len(graphs) - 1 - row) + 0.4 - height * (methods.index(bar.method) + 0.5)
        percent, noise_percent = 100 * bar.improvement, 100 * bar.noise
        axes.barh(y, percent, height=height * 0.9, color=colours[bar.method], xerr=noise_percent, capsize=3,
                  hatch="//" if bar.verdict == "same" else None, edgecolor="black", linewidth=0.5)
        axes.annotate(f"{percent:+.1f}%", (percent + (noise_percent if percent >= 0 else -noise_percent), y),
                      xytext=(4 if percent >= 0 else -4, 0), textcoords="offset points", va="center",
                      ha="left" if percent >= 0 else "right", fontsize=8)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(graphs)), list(reversed(graphs)))
    axes.set_ylim(-0.6, len(graphs) - 0.4)
    low = min(min(100 * (bar.improvement - bar.noise) for bar in bars), 0.0)
    high = max(max(100 * (bar.improvement + bar.noise) for bar in bars), 0.0)
    margin = 0.25 * max(high - low, 1.0)
    axes.set_xlim(low - margin, high + margin)
    axes.set_xlabel("relative runtime improvement (%), higher is better\nerror bar: noise band; hatched: within the noise")
    axes.set_title(f"Measured runtime of the optimized graphs: {runtime}" + (f"\n{textwrap.fill(protocol, 100)}" if protocol else ""),
                   fontsize=9)
    axes.grid(True, axis="x", alpha=0.3)
    # Built by hand: a legend taken from the bars would show the first bar's hatching as the method's.
    handles = [Patch(facecolor=colours[method], edgecolor="black", linewidth=0.5, label=method) for method in methods]
    handles.append(Patch(facecolor="white", edgecolor="black", linewidth=0.5, hatch="//", label="within the noise (same)"))
    axes.legend(handles=handles, loc="best", title="method", fontsize=8)
    _save(figure, path)
