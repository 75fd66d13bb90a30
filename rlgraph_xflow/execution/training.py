"""What every trainer shares, written once and knowing nothing of its agent's algorithm.

Classes and functions in this file:
  BestTrainingPrefix: the cheapest graph training reached in the real
    environment: its runtime and the (xfer, location) rewrites that build it
    from the initial graph (a prefix of one episode's rewrites).
  keep_best_prefix: the cheaper of a BestTrainingPrefix and the best
    prefixes of newly finished episodes.
  TrainingSummary: what a finished training run reports.
  Trainer: the base of every trainer (PPO's, rlgraph_xflow.agents.ppo_trainer;
    the world model's, rlgraph_xflow.agents.world_model_trainer). It keeps
    the run directory's training records: metrics.csv (core.metrics_log),
    TensorBoard scalars, the progress line on stderr, checkpoints
    (core.checkpoint: the agent's variables and the loop's state, then
    latest.json) and --resume from the latest one, and the counters every
    loop has (wall-clock seconds, episodes, the last episodes' applied
    xfers, the best training prefix). A subclass writes the loop itself and
    says what its checkpoints hold.

Sits in the execution layer because the best prefix is read off the
EpisodeRecords an execution returns (rlgraph_xflow.execution.local); agents
import it, nothing here imports an agent.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
from typing import Iterable, Optional, Sequence

from rlgraph_xflow.core import checkpoint
from rlgraph_xflow.core.metrics_log import MetricsLog
from rlgraph_xflow.tf_runtime import load_tensorflow

METRICS_FILE = "metrics.csv"
# The metrics column that counts logged rows; a checkpoint records how many (latest.json's "update").
ROW_COLUMN = "update"
_PROGRESS_BAR_WIDTH = 30
_SCALAR_METADATA = None


@dataclasses.dataclass
class BestTrainingPrefix:
    """The cheapest graph reached in the real environment during training.

    Attributes:
        runtime_ms: its estimated runtime, as the environment reported it.
        steps: the (xfer, location) rewrites that build it from the initial
            graph (empty when the cheapest graph of the episodes that applied
            rewrites was the initial one).
    """

    runtime_ms: float
    steps: list

    def to_state(self) -> dict:
        """JSON-compatible form (checkpoints)."""
        return {"runtime_ms": self.runtime_ms, "steps": [[int(xfer), int(location)] for xfer, location in self.steps]}

    @classmethod
    def from_state(cls, state: Optional[dict]) -> Optional["BestTrainingPrefix"]:
        """The inverse of to_state; None stays None (no episode applied a rewrite yet).

        Raises:
            ValueError: state is not what to_state writes.
        """
        if state is None:
            return None
        if not isinstance(state, dict) or set(state) != {"runtime_ms", "steps"}:
            raise ValueError("best training prefix: expected {'runtime_ms': float, 'steps': [[xfer, location], ...]}, "
                             f"got {state!r:.200}")
        return cls(float(state["runtime_ms"]), [(int(xfer), int(location)) for xfer, location in state["steps"]])


def keep_best_prefix(best: Optional[BestTrainingPrefix], episodes: Iterable) -> Optional[BestTrainingPrefix]:
    """The cheapest of `best` and the best prefixes of finished `episodes`.

    Args:
        best: the best prefix so far, or None.
        episodes: EpisodeRecords (rlgraph_xflow.execution.local), in the
            order they finished. Episodes that applied no rewrite are
            skipped: their only graph is the initial one.

    Returns:
        The new best; on a tie the earlier one stays, so the result does not
        depend on anything but the order episodes finished in.
    """
    for episode in episodes:
        if not episode.applied_steps:
            continue
        if best is None or episode.best_runtime_ms < best.runtime_ms:
            best = BestTrainingPrefix(float(episode.best_runtime_ms), list(episode.applied_steps[:episode.best_prefix_length]))
    return best


@dataclasses.dataclass
class TrainingSummary:
    """What training reports; `extra_result` goes into result.json as is.

    best_training_prefix: the cheapest graph training's real-environment
    episodes reached (None when none applied a rewrite); run_agent exports
    it when it beats the greedy policy's graph.
    """

    updates: int
    env_steps: int
    train_seconds: float
    episodes: int
    last_applied_per_episode: list
    extra_result: dict = dataclasses.field(default_factory=dict)
    best_training_prefix: Optional[BestTrainingPrefix] = None


def _scalar_metadata():
    """Summary metadata for TensorBoard's scalars plugin (made once)."""
    global _SCALAR_METADATA
    if _SCALAR_METADATA is None:
        from tensorflow.core.framework import summary_pb2

        _SCALAR_METADATA = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    return _SCALAR_METADATA


class Trainer:
    """The records every trainer keeps in its run directory, and its resume.

    A subclass's run(resume) calls start(resume) first, then per row of its
    loop log_row(row, step) and show_progress(text), save_checkpoint() as
    often as it checkpoints, and finish() at the end. It provides:
      rows_logged: the metrics rows written so far (their "update" column).
      checkpoint_name(): the file stem of the next checkpoint.
      loop_state(name): its part of a checkpoint (JSON-compatible); it may
        write files of its own next to the checkpoint, named after `name`.
      set_loop_state(state): restores that part.

    Args:
        agent: the agent (save(path) -> path, restore(path)).
        run_dir: where metrics.csv, tensorboard/ and checkpoints/ go.
        metric_fields: metrics.csv's columns; the first is ROW_COLUMN.
        keep_episodes: how many of the last episodes' applied xfers to keep
            (for the report's heatmap).
        progress: show a progress line on stderr.
        resume_hint: added to the error when --resume finds no checkpoint.
    """

    def __init__(self, agent, run_dir: str, metric_fields: Sequence[str], keep_episodes: int = 64, progress: bool = True,
                 resume_hint: str = ""):
        self.agent, self.run_dir = agent, run_dir
        self.metric_fields = list(metric_fields)
        self.keep_episodes, self.progress, self.resume_hint = keep_episodes, progress, resume_hint
        self.checkpoint_dir = os.path.join(run_dir, "checkpoints")
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        self.wall_seconds = 0.0
        self.episodes = 0
        self.recent_applied: list = []
        self.best_training_prefix: Optional[BestTrainingPrefix] = None
        self.metrics_log: Optional[MetricsLog] = None
        self._tf = None
        self._writer = None
        self._in_place_progress = False

    # What a subclass provides ----------------------------------------------------
    @property
    def rows_logged(self) -> int:
        raise NotImplementedError

    def checkpoint_name(self) -> str:
        raise NotImplementedError

    def loop_state(self, name: str) -> dict:
        raise NotImplementedError

    def set_loop_state(self, state: dict) -> None:
        raise NotImplementedError

    # Records ----------------------------------------------------------------------
    def record_episodes(self, episodes: Iterable) -> None:
        """Keeps the best prefix of finished episodes (EpisodeRecords or their outcomes so far)."""
        self.best_training_prefix = keep_best_prefix(self.best_training_prefix, episodes)

    def remember_applied(self, applied_per_episode: Sequence[list]) -> None:
        """Appends finished episodes' applied xfer ids, keeping the last keep_episodes."""
        self.recent_applied = (self.recent_applied + list(applied_per_episode))[-self.keep_episodes:]

    # Checkpoints ------------------------------------------------------------------
    def save_checkpoint(self) -> str:
        """Writes the agent, the shared counters and the loop's state, then points latest.json at them."""
        name = self.checkpoint_name()
        state = {
            **self.loop_state(name),
            "wall_seconds": self.wall_seconds, "episodes": self.episodes, "recent_applied": self.recent_applied,
            "best_training_prefix": self.best_training_prefix.to_state() if self.best_training_prefix else None,
        }
        return checkpoint.save_training_checkpoint(self.checkpoint_dir, name, self.agent, state, self.rows_logged)

    def restore_checkpoint(self) -> bool:
        """Restores the latest checkpoint; returns False when there is none."""
        state = checkpoint.restore_training_checkpoint(self.checkpoint_dir, self.agent)
        if state is None:
            return False
        self.wall_seconds, self.episodes = float(state["wall_seconds"]), int(state["episodes"])
        self.recent_applied = state["recent_applied"]
        self.best_training_prefix = BestTrainingPrefix.from_state(state["best_training_prefix"])
        self.set_loop_state(state)
        return True

    # The run's files ----------------------------------------------------------------
    def start(self, resume: bool) -> None:
        """Opens metrics.csv and the TensorBoard writer, first restoring the latest checkpoint if `resume`.

        A new run starts a new metrics.csv; a resumed one keeps the rows up to
        its checkpoint (the rows logged after it are logged again).

        Raises:
            FileNotFoundError: `resume` and no checkpoint was written.
        """
        metrics_path = os.path.join(self.run_dir, METRICS_FILE)
        if resume:
            if not self.restore_checkpoint():
                raise FileNotFoundError(f"--resume: no checkpoint in {self.checkpoint_dir} (latest.json is missing)"
                                        f"{self.resume_hint}")
            self.metrics_log = MetricsLog(metrics_path, self.metric_fields)
            self.metrics_log.truncate_after(ROW_COLUMN, self.rows_logged)
        else:
            if os.path.exists(metrics_path):
                os.remove(metrics_path)
            self.metrics_log = MetricsLog(metrics_path, self.metric_fields)
        self._tf = load_tensorflow()
        self._writer = self._tf.summary.create_file_writer(os.path.join(self.run_dir, "tensorboard"))

    def log_row(self, row: dict, step: int) -> None:
        """Appends `row` to metrics.csv, and its finite float values (but wall_seconds) to TensorBoard at `step`."""
        self.metrics_log.append(row)
        tf = self._tf
        with self._writer.as_default(step=step):
            for key, value in row.items():
                if isinstance(value, float) and key != "wall_seconds" and math.isfinite(value):
                    # tf.summary.scalar lives in the tensorboard package; a
                    # summary tagged for the scalars plugin is the same record.
                    tf.summary.write(key, tf.constant(value, tf.float32), metadata=_scalar_metadata())

    def show_progress(self, text: str, done: int, total: int) -> None:
        """A progress bar and `text` on stderr: redrawn in place on a terminal, else a line every tenth of `total`."""
        if not self.progress:
            return
        filled = int(_PROGRESS_BAR_WIDTH * done / total)
        line = f"[{'#' * filled}{'.' * (_PROGRESS_BAR_WIDTH - filled)}] {text}"
        if sys.stderr.isatty():
            sys.stderr.write("\r" + line)
            self._in_place_progress = True
        elif done == total or done % max(1, total // 10) == 0:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        """Flushes TensorBoard and ends an in-place progress line."""
        self._writer.flush()
        if self._in_place_progress:
            sys.stderr.write("\n")
            self._in_place_progress = False
