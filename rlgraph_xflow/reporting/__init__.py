"""A run's report: report.md and its plots, from metrics.csv and result.json.

Used by runs (rlgraph_xflow.runs) only; imports core and graphs. metrics.csv
itself is written and read by rlgraph_xflow.core.metrics_log, which every
trainer shares.

Modules:
  xfer_counts: count_xfer_applications, which xfer was applied at which
    episode step, counted over episodes (XferStepCounts).
  plots: the reward curve, the cost curve and the xfer heatmap as PNGs.
  report: write_report, report.md with the result's key figures, the applied
    xfers and the three plots.
"""
from rlgraph_xflow.reporting.report import (
    ENV_STEPS_COLUMN,
    EPISODE_FINAL_COST_COLUMN,
    EPISODE_REWARD_COLUMN,
    ReportError,
    write_report,
)
from rlgraph_xflow.reporting.xfer_counts import XferStepCounts, count_xfer_applications

__all__ = [
    "ENV_STEPS_COLUMN",
    "EPISODE_FINAL_COST_COLUMN",
    "EPISODE_REWARD_COLUMN",
    "ReportError",
    "XferStepCounts",
    "count_xfer_applications",
    "write_report",
]
