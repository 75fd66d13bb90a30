"""A training run's report: report.md with the key figures, the applied xfers and three plots.

Holds:
  write_report: reads the run's metrics CSV and result, draws the reward
    curve, the cost curve and the xfer heatmap, and writes report.md. Its
    first line after the title is the real latency change (onnxruntime, with
    its noise band, verdict and protocol); the estimated cost change, named
    as an estimate with its cost model and device, comes second.
  ReportError: the metrics file, the result or the xfer lists do not have
    what the report needs (the message names the file, column or key).
  ENV_STEPS_COLUMN, EPISODE_REWARD_COLUMN, EPISODE_FINAL_COST_COLUMN: the
    metrics columns the curves are drawn from (one row per episode, or per
    update with the mean over its episodes; a "nan" cell is skipped).

The report is a function of its inputs only: no clock, no absolute paths, no
host name, so two runs with the same inputs give the same report.md (and,
with the same matplotlib, the same PNG bytes).
"""
from __future__ import annotations

import math
import numbers
import os
import pathlib
import tempfile
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from rlgraph_xflow.core.validation import is_instance_not_bool
from rlgraph_xflow.graphs.latency import VERDICTS, latency_line
from rlgraph_xflow.core.metrics_log import read_metrics_csv
from rlgraph_xflow.reporting.plots import plot_cost_curve, plot_reward_curve, plot_xfer_heatmap
from rlgraph_xflow.reporting.xfer_counts import count_xfer_applications

ENV_STEPS_COLUMN = "env_steps"
EPISODE_REWARD_COLUMN = "episode_reward"
EPISODE_FINAL_COST_COLUMN = "episode_final_cost_ms"

REPORT_FILE = "report.md"
REWARD_CURVE_FILE = "reward_curve.png"
COST_CURVE_FILE = "cost_curve.png"
XFER_HEATMAP_FILE = "xfer_heatmap.png"

_NUMBER_KEYS = (
    "initial_cost_ms", "final_cost_ms", "cost_reduction", "max_abs_diff", "latency_ms_original",
    "latency_ms_optimized", "latency_change", "latency_noise", "env_steps", "train_seconds", "search_seconds", "greedy_policy_cost_ms",
    "best_training_cost_ms", "sampled_policy_cost_ms", "sampled_evaluation_episodes", "sampled_evaluation_seconds",
)
# result_source -> what report.md calls the exported graph (an agent run's result.json).
_RESULT_SOURCES = {"greedy_policy": "the greedy policy's graph",
                   "sampled_policy": "the best graph of the trained policy's sampled episodes (replayed from its steps)",
                   "best_training_episode": "the best graph of a training episode (replayed from its steps)",
                   "original": "the original graph (every candidate measured slower in onnxruntime)"}
_TEXT_KEYS = ("model", "agent", "search", "cost_model", "device", "latency_protocol", "export_note")
_NOT_RECORDED = "not recorded"


class ReportError(ValueError):
    """The report's inputs lack something it needs; the message names the file, column or key."""


def _check_result(result: Mapping[str, object]) -> None:
    if not isinstance(result, Mapping):
        raise ReportError(f"result must be a dict (the content of result.json), found {type(result).__name__}")
    if result.get("initial_cost_ms") is None:
        raise ReportError(f"result['initial_cost_ms'] is required (the cost curve's reference line); result has keys {sorted(result)}")
    for key in _NUMBER_KEYS:
        value = result.get(key)
        if value is not None and not is_instance_not_bool(value, numbers.Real):
            raise ReportError(f"result['{key}']: expected a number, found {type(value).__name__} {value!r}")
    for key in _TEXT_KEYS:
        value = result.get(key)
        if value is not None and not isinstance(value, str):
            raise ReportError(f"result['{key}']: expected a string, found {type(value).__name__} {value!r}")
    verdict = result.get("latency_verdict")
    if verdict is not None and verdict not in VERDICTS:
        raise ReportError(f"result['latency_verdict']: expected one of {list(VERDICTS)}, found {verdict!r}")
    source = result.get("result_source")
    if source is not None and source not in _RESULT_SOURCES:
        raise ReportError(f"result['result_source']: expected one of {sorted(_RESULT_SOURCES)}, found {source!r}")
    verified = result.get("verified")
    if verified is not None and not isinstance(verified, (bool, np.bool_)):
        raise ReportError(f"result['verified']: expected true or false, found {type(verified).__name__} {verified!r}")
    applied = result.get("applied")
    if applied is not None:
        if isinstance(applied, str) or not isinstance(applied, Sequence):
            raise ReportError(f"result['applied']: expected a list of xfer names, found {type(applied).__name__} {applied!r:.200}")
        for index, name in enumerate(applied):
            if not isinstance(name, str):
                raise ReportError(f"result['applied'][{index}]: expected an xfer name (string), found {type(name).__name__} {name!r}")


def _column_series(path: pathlib.Path, rows: list[dict], value_column: str) -> tuple[np.ndarray, np.ndarray]:
    """The (env steps, value) pairs of the rows where both are finite numbers, in file order."""
    env_steps, values = [], []
    # The header is line 1, so row i sits on line i + 2.
    for index, row in enumerate(rows):
        for column in (ENV_STEPS_COLUMN, value_column):
            if not isinstance(row[column], float):
                raise ReportError(f"metrics file '{path}', line {index + 2}, column '{column}': expected a number, found {row[column]!r}")
        if math.isfinite(row[ENV_STEPS_COLUMN]) and math.isfinite(row[value_column]):
            env_steps.append(row[ENV_STEPS_COLUMN])
            values.append(row[value_column])
    return np.asarray(env_steps, dtype=np.float64), np.asarray(values, dtype=np.float64)


def _read_curves(metrics_csv_path: pathlib.Path) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(steps, rewards, steps, costs) from the metrics file, or None when it holds no rows yet."""
    columns, rows = read_metrics_csv(metrics_csv_path)
    if not columns:
        return None
    for column in (ENV_STEPS_COLUMN, EPISODE_REWARD_COLUMN, EPISODE_FINAL_COST_COLUMN):
        if column not in columns:
            raise ReportError(
                f"metrics file '{metrics_csv_path}' has no column '{column}' (found columns {columns}); "
                f"the report draws its curves from '{ENV_STEPS_COLUMN}', '{EPISODE_REWARD_COLUMN}' and '{EPISODE_FINAL_COST_COLUMN}'"
            )
    if not rows:
        return None
    reward_steps, rewards = _column_series(metrics_csv_path, rows, EPISODE_REWARD_COLUMN)
    cost_steps, costs = _column_series(metrics_csv_path, rows, EPISODE_FINAL_COST_COLUMN)
    return reward_steps, rewards, cost_steps, costs


def _format_number(value: Optional[float], unit: str = "") -> str:
    if value is None:
        return _NOT_RECORDED
    if isinstance(value, numbers.Integral) or float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value)}"
    else:
        text = f"{float(value):.6g}"
    return f"{text} {unit}".rstrip()


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|")


_LATENCY_KEYS = ("latency_ms_original", "latency_ms_optimized", "latency_change", "latency_noise", "latency_verdict")


def _headline(result: Mapping[str, object]) -> list[str]:
    """The real latency change first, the estimated cost change second, then the export note if there is one."""
    if all(result.get(key) is not None for key in _LATENCY_KEYS):
        protocol = result.get("latency_protocol") or "protocol not recorded"
        latency = f"**Real latency:** {latency_line(*(result[key] for key in _LATENCY_KEYS))}; measured with {protocol}."
    else:
        latency = "**Real latency:** not measured (the result has no onnxruntime timing of both graphs)."
    initial, final = result.get("initial_cost_ms"), result.get("final_cost_ms")
    cost_model, device = result.get("cost_model"), result.get("device")
    estimator = f"the {cost_model} cost model, device {device}" if cost_model and device else "cost model and device not recorded"
    if final is None:
        change = "final cost not recorded"
    else:
        change = f"{_format_number(initial, 'ms')} -> {_format_number(final, 'ms')}"
        if initial > 0:
            change += f" ({100.0 * (final - initial) / initial:+.1f}%)"
    lines = ["", latency, "", f"**Estimated cost** (an estimate by {estimator}, not a measurement): {change}."]
    if result.get("export_note"):
        lines += ["", f"**Export:** {result['export_note']}."]
    return lines


def _result_table(result: Mapping[str, object]) -> list[str]:
    initial = result.get("initial_cost_ms")
    final = result.get("final_cost_ms")
    original_latency = result.get("latency_ms_original")
    optimized_latency = result.get("latency_ms_optimized")
    verified = result.get("verified")
    max_abs_diff = result.get("max_abs_diff")
    rows = []
    if result.get("model") is not None:
        rows.append(("Model", result["model"]))
    if result.get("agent") is not None:
        rows.append(("Agent", result["agent"]))
    if result.get("search") is not None:
        rows.append(("Search", result["search"]))
    rows += [
        ("Initial cost (estimated)", _format_number(initial, "ms")),
        ("Final cost (estimated)", _format_number(final, "ms")),
        # Computed from the two costs rather than read from cost_reduction,
        # whose scale (fraction or percent) the table would have to guess.
        ("Cost reduction", f"{100.0 * (initial - final) / initial:.2f} %" if final is not None and initial > 0 else _NOT_RECORDED),
        ("Verified in onnxruntime", _NOT_RECORDED if verified is None else ("yes" if verified else "NO")),
        ("Largest absolute output difference", _NOT_RECORDED if max_abs_diff is None else f"{float(max_abs_diff):.3e}"),
        ("onnxruntime latency, original", _format_number(original_latency, "ms")),
        ("onnxruntime latency, optimized", _format_number(optimized_latency, "ms")),
    ]
    if all(result.get(key) is not None for key in ("latency_change", "latency_noise", "latency_verdict")):
        rows.append(("onnxruntime latency change", f"{100.0 * result['latency_change']:+.2f} % ± {100.0 * result['latency_noise']:.2f} % "
                                                   f"({result['latency_verdict']})"))
    rows.append(("Environment steps", _format_number(result.get("env_steps"))))
    if result.get("train_seconds") is not None or result.get("search_seconds") is None:
        rows.append(("Training time", _format_number(result.get("train_seconds"), "s")))
    if result.get("search_seconds") is not None:
        rows.append(("Search time", _format_number(result["search_seconds"], "s")))
    return ["| Quantity | Value |", "| --- | --- |"] + [f"| {name} | {_escape_cell(str(value))} |" for name, value in rows]


def _exported_graph_line(result: Mapping[str, object]) -> list[str]:
    """One line: which graph an agent run exported, and both candidates' costs (nothing for a search's result)."""
    source = result.get("result_source")
    if source is None:
        return []
    training = result.get("best_training_cost_ms")
    training_text = _format_number(training, "ms") if training is not None else "none (no training episode applied a rewrite)"
    sampled = result.get("sampled_policy_cost_ms")
    sampled_text = (f"sampled policy (best of {result.get('sampled_evaluation_episodes')} episodes): {_format_number(sampled, 'ms')}; "
                    if sampled is not None else "")
    return ["", f"Exported: {_RESULT_SOURCES[source]}. Greedy policy: {_format_number(result.get('greedy_policy_cost_ms'), 'ms')}; "
                f"{sampled_text}best training episode: {training_text}."]


def _applied_sequence(result: Mapping[str, object]) -> list[str]:
    applied = result.get("applied")
    if applied is None:
        return ["The result does not record the applied xfers."]
    if not applied:
        return ["No xfer was applied: the optimized graph is the original graph."]
    distinct = len(set(applied))
    lines = [f"{len(applied)} xfer application{'s' if len(applied) != 1 else ''} ({distinct} distinct xfer{'s' if distinct != 1 else ''}), in order:", ""]
    lines += [f"{index}. `{name}`" for index, name in enumerate(applied, start=1)]
    return lines


def _write_text_atomically(path: pathlib.Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _remove_stale(path: pathlib.Path) -> None:
    """An image from an earlier report that this one does not draw would contradict report.md."""
    if path.exists():
        path.unlink()


def write_report(
    run_dir: Union[str, os.PathLike],
    metrics_csv_path: Union[str, os.PathLike],
    result: Mapping[str, object],
    xfer_names: Sequence[str],
    applied_per_episode: Sequence[Sequence[int]],
    title: str,
    *,
    reward_unit: str = "ms",
) -> str:
    """Writes report.md and its plots into run_dir.

    Files written (replacing earlier ones): reward_curve.png and
    cost_curve.png (when the metrics file holds rows), xfer_heatmap.png (when
    some episode applied an xfer), and report.md, which embeds them with
    relative links. A metrics file with no rows yet, or episodes that applied
    nothing, give a note in report.md instead of a plot.

    Args:
        run_dir: the run directory; created if missing.
        metrics_csv_path: the training loop's metrics CSV, with the columns
            ENV_STEPS_COLUMN ("env_steps"), EPISODE_REWARD_COLUMN
            ("episode_reward") and EPISODE_FINAL_COST_COLUMN
            ("episode_final_cost_ms"); other columns are ignored.
        result: the content of result.json; "initial_cost_ms" is required,
            every other key is shown when present ("not recorded" otherwise).
            The first lines are the real latency change (from
            "latency_ms_original", "latency_ms_optimized", "latency_change",
            "latency_noise", "latency_verdict" and "latency_protocol"), the
            estimated cost change (with "cost_model" and "device") and
            "export_note" when it is not null.
            An agent run's "result_source" ("greedy_policy",
            "sampled_policy", "best_training_episode" or "original") adds one line
            naming the exported graph with "greedy_policy_cost_ms",
            "sampled_policy_cost_ms" (when not null, with
            "sampled_evaluation_episodes") and "best_training_cost_ms".
        xfer_names: the name of every xfer in the library, by id.
        applied_per_episode: for each evaluation (or late training) episode,
            the ids of the xfers applied at each step; NO-OP excluded.
        title: the report's heading (one line).
        reward_unit: unit of the episode reward for the axis label ("ms" for
            the incremental runtime reward).

    Returns:
        The path of report.md.

    Raises:
        FileNotFoundError: the metrics file does not exist.
        ReportError: a required metrics column or result key is missing or
            holds the wrong type, the title is not one line of text, or
            run_dir is a file.
        ValueError: an xfer id is out of range (names episode and step).
    """
    if not isinstance(title, str) or not title.strip() or "\n" in title or "\r" in title:
        raise ReportError(f"report title must be one non-empty line of text, found {title!r}")
    run_dir = pathlib.Path(run_dir)
    metrics_csv_path = pathlib.Path(metrics_csv_path)
    if run_dir.exists() and not run_dir.is_dir():
        raise ReportError(f"run directory '{run_dir}' exists and is not a directory")
    _check_result(result)
    # Everything is read and checked before anything is written, so bad
    # input leaves the run directory as it was.
    curves = _read_curves(metrics_csv_path)
    step_counts = count_xfer_applications(applied_per_episode, xfer_names)
    run_dir.mkdir(parents=True, exist_ok=True)

    subtitle = result.get("model") or ""
    lines = [f"# {title.strip()}"] + _headline(result) + ["", "## Result", ""] + _result_table(result) + _exported_graph_line(result)
    lines += ["", "## Applied xfers", ""] + _applied_sequence(result)
    lines += ["", "## Training curves", ""]
    reward_path, cost_path, heatmap_path = run_dir / REWARD_CURVE_FILE, run_dir / COST_CURVE_FILE, run_dir / XFER_HEATMAP_FILE
    reward_steps, rewards, cost_steps, costs = curves if curves is not None else (np.zeros(0),) * 4
    if len(rewards) == 0 and len(costs) == 0:
        _remove_stale(reward_path)
        _remove_stale(cost_path)
        lines.append(f"No episode has been logged in `{metrics_csv_path.name}` yet, so there are no reward or cost curves.")
    else:
        lines.append(
            f"From `{metrics_csv_path.name}`: {len(rewards)} episode rewards and {len(costs)} episode costs, "
            f"up to {_format_number(max(np.max(reward_steps, initial=0.0), np.max(cost_steps, initial=0.0)))} environment steps."
        )
        for points, path, plot, image_title in (
            (rewards, reward_path, "reward", "Episode reward against environment steps"),
            (costs, cost_path, "cost", "Episode final cost against environment steps"),
        ):
            lines.append("")
            if len(points) == 0:
                _remove_stale(path)
                lines.append(f"No finite episode {plot} has been logged yet, so there is no {plot} curve.")
            elif plot == "reward":
                plot_reward_curve(path, reward_steps, rewards, reward_unit=reward_unit, subtitle=subtitle)
                lines.append(f"![{image_title}]({REWARD_CURVE_FILE})")
            else:
                plot_cost_curve(path, cost_steps, costs, initial_cost_ms=float(result["initial_cost_ms"]),
                                final_cost_ms=None if result.get("final_cost_ms") is None else float(result["final_cost_ms"]),
                                subtitle=subtitle)
                lines.append(f"![{image_title}]({COST_CURVE_FILE})")

    lines += ["", "## Xfers applied per episode step", ""]
    episodes = step_counts.episode_count
    if step_counts.counts.size == 0:
        _remove_stale(heatmap_path)
        lines.append(f"No xfer was applied in the {episodes} recorded episode{'s' if episodes != 1 else ''}, so there is no heatmap.")
    else:
        plot_xfer_heatmap(heatmap_path, step_counts, subtitle=subtitle)
        lines.append(
            f"Counts over {episodes} episode{'s' if episodes != 1 else ''}; rows are the {len(step_counts.xfer_names)} "
            f"xfers applied at least once (of {len(xfer_names)} in the library), columns the step in the episode."
        )
        lines += ["", f"![Xfers applied at each episode step]({XFER_HEATMAP_FILE})"]

    report_path = run_dir / REPORT_FILE
    _write_text_atomically(report_path, "\n".join(lines) + "\n")
    return str(report_path)
