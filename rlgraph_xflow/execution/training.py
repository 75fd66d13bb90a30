"""Trainer: the update loop of a learning agent, with logs and checkpoints.

Classes and functions in this file:
  BestTrainingPrefix: the cheapest graph training reached in the real
    environment: its runtime and the (xfer, location) rewrites that build it
    from the initial graph (a prefix of one episode's rewrites).
  keep_best_prefix: the cheaper of a BestTrainingPrefix and the best
    prefixes of newly finished episodes.
  TrainingSummary: what a finished training run reports.
  Trainer: alternates rollouts (from an execution) and agent updates until a
    budget of environment steps is spent; for a self-imitating agent, each
    update is followed by imitation of the best training prefix, replayed
    (once per new best) in an environment of the trainer's own. Each update
    appends a row to metrics.csv and writes TensorBoard scalars; every `checkpoint_every`
    updates it writes a checkpoint (rlgraph_xflow.core.checkpoint): the
    agent's variables, the execution's episodes in progress, the buffer's
    shuffling state, the best training prefix and the counters, then (last,
    atomically) checkpoints/latest.json pointing at them. A run resumed from
    latest.json continues exactly where it was taken, so a seeded run that
    is interrupted and resumed ends like an uninterrupted one (within float
    tolerance; the best training prefix exactly).
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from typing import Iterable, Optional

import numpy as np

from rlgraph_xflow.execution.rollout_buffer import RolloutBuffer
from rlgraph_xflow.core import checkpoint
from rlgraph_xflow.execution.episodes import replay_steps
from rlgraph_xflow.core.metrics_log import MetricsLog
from rlgraph_xflow.tf_runtime import load_tensorflow

METRIC_FIELDS = [
    "update", "env_steps", "wall_seconds", "episodes", "episode_reward", "episode_final_cost_ms", "total_loss",
    "policy_loss", "value_loss", "xfer_entropy", "location_entropy", "approximate_kl", "gradient_norm",
    "imitation_loss", "imitated_fraction",
]
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


class Trainer:
    """Trains `agent` on rollouts from `execution`.

    Args:
        agent: a learning Agent (num_envs, rollout_steps, act, update, save, restore).
        execution: LocalExecution (or a Ray execution with the same methods).
        run_dir: where metrics.csv, tensorboard/ and checkpoints/ go.
        total_env_steps: the training budget in environment steps.
        checkpoint_every: updates between checkpoints.
        seed: seed of the minibatch shuffling.
        keep_episodes: how many of the last episodes' applied xfers to keep
            (for the report's heatmap).
        imitation_env: for an agent with imitate(): an XflowEnv like the
            rollout environments (no exploration bonus) in which the best
            training prefix is replayed for it; None: no imitation.
    """

    def __init__(self, agent, execution, run_dir: str, total_env_steps: int, checkpoint_every: int = 5, seed: int = 0,
                 keep_episodes: int = 64, progress: bool = True, imitation_env=None):
        self.agent, self.execution = agent, execution
        self.run_dir = run_dir
        self.total_env_steps = total_env_steps
        self.checkpoint_every = checkpoint_every
        self.keep_episodes = keep_episodes
        self.progress = progress
        self.buffer = RolloutBuffer(agent.num_envs, agent.rollout_steps, seed=seed)
        self.checkpoint_dir = os.path.join(run_dir, "checkpoints")
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        self.update = 0
        self.env_steps = 0
        self.wall_seconds = 0.0
        self.episodes = 0
        self.recent_applied: list = []
        self.best_training_prefix: Optional[BestTrainingPrefix] = None
        self.imitation_env = imitation_env
        # The best prefix last replayed for imitation and its replay, redone
        # when the best changes; not checkpointed, since the replay is exact.
        self._imitated_prefix: Optional[BestTrainingPrefix] = None
        self._imitated_episode = None

    @property
    def steps_per_update(self) -> int:
        return self.agent.num_envs * self.agent.rollout_steps

    @property
    def total_updates(self) -> int:
        return max(1, math.ceil(self.total_env_steps / self.steps_per_update))

    # Checkpoints ---------------------------------------------------------------
    def save_checkpoint(self) -> str:
        """Writes the agent and the loop state, then points latest.json at them."""
        state = {
            "update": self.update, "env_steps": self.env_steps, "wall_seconds": self.wall_seconds,
            "episodes": self.episodes, "recent_applied": self.recent_applied,
            "best_training_prefix": self.best_training_prefix.to_state() if self.best_training_prefix else None,
            "execution": self.execution.get_state(),
            "buffer_rng": self.buffer.rng.bit_generator.state,
        }
        return checkpoint.save_training_checkpoint(self.checkpoint_dir, f"update-{self.update:06d}", self.agent, state, self.update)

    def restore_checkpoint(self) -> bool:
        """Restores the latest checkpoint; returns False when there is none."""
        state = checkpoint.restore_training_checkpoint(self.checkpoint_dir, self.agent)
        if state is None:
            return False
        self.update, self.env_steps = int(state["update"]), int(state["env_steps"])
        self.wall_seconds, self.episodes = float(state["wall_seconds"]), int(state["episodes"])
        self.recent_applied = state["recent_applied"]
        self.best_training_prefix = BestTrainingPrefix.from_state(state["best_training_prefix"])
        self.execution.set_state(state["execution"])
        self.buffer.rng.bit_generator.state = state["buffer_rng"]
        return True

    # The loop ------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainingSummary:
        """Trains until the budget is spent (continuing a checkpoint if `resume`)."""
        tf = load_tensorflow()
        global _SCALAR_METADATA
        if _SCALAR_METADATA is None:
            from tensorflow.core.framework import summary_pb2

            _SCALAR_METADATA = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
        metrics_path = os.path.join(self.run_dir, "metrics.csv")
        if resume:
            if not self.restore_checkpoint():
                raise FileNotFoundError(f"--resume: no checkpoint in {self.checkpoint_dir} (latest.json is missing)")
            log = MetricsLog(metrics_path, METRIC_FIELDS)
            log.truncate_after("update", self.update)
        else:
            if os.path.exists(metrics_path):
                os.remove(metrics_path)
            log = MetricsLog(metrics_path, METRIC_FIELDS)
            self.execution.reset()
        writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "tensorboard"))
        while self.update < self.total_updates:
            started = time.perf_counter()
            self.buffer.clear()
            finished = self.execution.collect(self.agent, self.buffer)
            bootstrap = self.agent.bootstrap_values(self.execution.observation)
            losses = self.agent.update(self.buffer, bootstrap)
            self.best_training_prefix = keep_best_prefix(self.best_training_prefix, finished)
            if self.imitation_env is not None and self.best_training_prefix is not None and self.best_training_prefix.steps:
                losses = {**losses, **self._imitate_best_prefix()}
            self.update += 1
            self.env_steps += self.steps_per_update
            self.wall_seconds += time.perf_counter() - started
            self.episodes += len(finished)
            self.recent_applied = (self.recent_applied + [episode.applied_xfers for episode in finished])[-self.keep_episodes:]
            row = {
                "update": self.update, "env_steps": self.env_steps, "wall_seconds": round(self.wall_seconds, 6),
                "episodes": len(finished),
                "episode_reward": float(np.mean([e.reward for e in finished])) if finished else float("nan"),
                "episode_final_cost_ms": float(np.mean([e.final_runtime_ms for e in finished])) if finished else float("nan"),
                **{key: losses.get(key, "") for key in METRIC_FIELDS[6:]},
            }
            log.append(row)
            with writer.as_default(step=self.env_steps):
                for key, value in row.items():
                    if isinstance(value, float) and key != "wall_seconds" and not math.isnan(value):
                        # tf.summary.scalar lives in the tensorboard package; a
                        # summary tagged for the scalars plugin is the same record.
                        tf.summary.write(key, tf.constant(value, tf.float32), metadata=_SCALAR_METADATA)
            self._show_progress(row)
            if self.update % self.checkpoint_every == 0 or self.update == self.total_updates:
                self.save_checkpoint()
        writer.flush()
        if self.progress and sys.stderr.isatty():
            sys.stderr.write("\n")
        return TrainingSummary(self.update, self.env_steps, self.wall_seconds, self.episodes, self.recent_applied,
                               best_training_prefix=self.best_training_prefix)

    def _imitate_best_prefix(self) -> dict:
        """The agent's imitation step on the best training prefix (replayed when it is new)."""
        # keep_best_prefix replaces the best rather than changing it, so the object itself can be kept.
        best = self.best_training_prefix
        if best is not self._imitated_prefix:
            self._imitated_episode = replay_steps(self.imitation_env, best.steps, best.runtime_ms, keep_observations=True)
            self._imitated_prefix = best
        episode = self._imitated_episode
        xfers, locations = zip(*episode.applied_steps)
        return self.agent.imitate(episode.observations, list(xfers), list(locations), episode.rewards)

    def _show_progress(self, row: dict) -> None:
        if not self.progress:
            return
        fraction = self.update / self.total_updates
        bar = "#" * int(30 * fraction) + "." * (30 - int(30 * fraction))
        reward = row["episode_reward"]
        text = (f"[{bar}] update {self.update}/{self.total_updates}, {self.env_steps} env steps, "
                f"reward {'-' if math.isnan(reward) else f'{reward:.4f}'}, loss {row['total_loss']:.4f}")
        if sys.stderr.isatty():
            sys.stderr.write("\r" + text)
        elif self.update == self.total_updates or self.update % max(1, self.total_updates // 10) == 0:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
