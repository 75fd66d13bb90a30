"""A training run's records and report.

Modules:
  metrics_log: MetricsLog, the CSV the training loop appends a row to per
    episode (resumable, truncatable for --resume), and read_metrics_csv.
  xfer_counts: count_xfer_applications, which xfer was applied at which
    episode step, counted over episodes (XferStepCounts).
  plots: the reward curve, the cost curve and the xfer heatmap as PNGs.
  report: write_report, report.md with the result's key figures, the applied
    xfers and the three plots.
"""
from rlgraph_xflow.reporting.metrics_log import MetricsLog, MetricsLogError, read_metrics_csv
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
    "MetricsLog",
    "MetricsLogError",
    "ReportError",
    "XferStepCounts",
    "count_xfer_applications",
    "read_metrics_csv",
    "write_report",
]
