"""Trainer: the update loop of a learning agent, with logs and checkpoints.

Classes in this file:
  TrainingSummary: what a finished training run reports.
  Trainer: alternates rollouts (from an execution) and agent updates until a
    budget of environment steps is spent. Each update appends a row to
    metrics.csv and writes TensorBoard scalars; every `checkpoint_every`
    updates it writes a checkpoint: the agent's variables, the execution's
    episodes in progress, the buffer's shuffling state and the counters,
    then (last, atomically) checkpoints/latest.json pointing at them. A run
    resumed from latest.json continues exactly where it was taken, so a
    seeded run that is interrupted and resumed ends like an uninterrupted
    one (within float tolerance).
"""
from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from typing import Optional

import numpy as np

from rlgraph_xflow.components.memories import RolloutBuffer
from rlgraph_xflow.reporting.metrics_log import MetricsLog

METRIC_FIELDS = [
    "update", "env_steps", "wall_seconds", "episodes", "episode_reward", "episode_final_cost_ms", "total_loss",
    "policy_loss", "value_loss", "xfer_entropy", "location_entropy", "approximate_kl", "gradient_norm",
]
LATEST = "latest.json"
_SCALAR_METADATA = None


@dataclasses.dataclass
class TrainingSummary:
    """What training reports; `extra_result` goes into result.json as is."""

    updates: int
    env_steps: int
    train_seconds: float
    episodes: int
    last_applied_per_episode: list
    extra_result: dict = dataclasses.field(default_factory=dict)


def write_json_atomically(path: str, document: dict) -> None:
    """Writes JSON to a temporary file in the same folder, syncs it, renames it over `path`."""
    descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    with os.fdopen(descriptor, "w") as stream:
        json.dump(document, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def write_latest_pointer(checkpoint_dir: str, agent_file: str, state_file: str, update: int) -> None:
    """Points latest.json at a checkpoint's files; written last, so a crash keeps the previous pointer."""
    write_json_atomically(os.path.join(checkpoint_dir, LATEST),
                          {"agent": os.path.basename(agent_file), "state": os.path.basename(state_file), "update": update})


def read_latest_pointer(checkpoint_dir: str):
    """latest.json's content, or None when no checkpoint was written."""
    latest = os.path.join(checkpoint_dir, LATEST)
    if not os.path.isfile(latest):
        return None
    with open(latest) as stream:
        return json.load(stream)


def _encode_bytes(value):
    """JSON-safe copy of a state tree (graph bytes become base64 strings)."""
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: _encode_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode_bytes(item) for item in value]
    return value


def _decode_bytes(value):
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {key: _decode_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_bytes(item) for item in value]
    return value


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
    """

    def __init__(self, agent, execution, run_dir: str, total_env_steps: int, checkpoint_every: int = 5, seed: int = 0,
                 keep_episodes: int = 64, progress: bool = True):
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

    @property
    def steps_per_update(self) -> int:
        return self.agent.num_envs * self.agent.rollout_steps

    @property
    def total_updates(self) -> int:
        return max(1, math.ceil(self.total_env_steps / self.steps_per_update))

    # Checkpoints ---------------------------------------------------------------
    def save_checkpoint(self) -> str:
        """Writes the agent and the loop state, then points latest.json at them."""
        name = f"update-{self.update:06d}"
        agent_path = self.agent.save(os.path.join(self.checkpoint_dir, f"{name}.npz"))
        state = {
            "update": self.update, "env_steps": self.env_steps, "wall_seconds": self.wall_seconds,
            "episodes": self.episodes, "recent_applied": self.recent_applied,
            "execution": self.execution.get_state(),
            "buffer_rng": self.buffer.rng.bit_generator.state,
        }
        state_path = os.path.join(self.checkpoint_dir, f"{name}.json")
        write_json_atomically(state_path, _encode_bytes(state))
        write_latest_pointer(self.checkpoint_dir, agent_path, state_path, self.update)
        return state_path

    def restore_checkpoint(self) -> bool:
        """Restores the latest checkpoint; returns False when there is none."""
        pointer = read_latest_pointer(self.checkpoint_dir)
        if pointer is None:
            return False
        self.agent.restore(os.path.join(self.checkpoint_dir, pointer["agent"]))
        with open(os.path.join(self.checkpoint_dir, pointer["state"])) as stream:
            state = _decode_bytes(json.load(stream))
        self.update, self.env_steps = int(state["update"]), int(state["env_steps"])
        self.wall_seconds, self.episodes = float(state["wall_seconds"]), int(state["episodes"])
        self.recent_applied = state["recent_applied"]
        self.execution.set_state(state["execution"])
        self.buffer.rng.bit_generator.state = state["buffer_rng"]
        return True

    # The loop ------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainingSummary:
        """Trains until the budget is spent (continuing a checkpoint if `resume`)."""
        from rlgraph_xflow.tf_runtime import load_tensorflow

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
        return TrainingSummary(self.update, self.env_steps, self.wall_seconds, self.episodes, self.recent_applied)

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
