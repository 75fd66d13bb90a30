"""PPOTrainer: PPO's update loop, with logs and checkpoints.

Classes in this file:
  PPOTrainer: alternates rollouts (from an execution) and agent updates
    until a budget of environment steps is spent; for a self-imitating
    agent, each update is followed by imitation of the best training prefix,
    replayed (once per new best) in an environment of the trainer's own.
    Each update appends a row to metrics.csv and writes TensorBoard scalars;
    every `checkpoint_every` updates it writes a checkpoint: the agent's
    variables, the execution's episodes in progress, the buffer's shuffling
    state, the best training prefix and the counters, then (last,
    atomically) checkpoints/latest.json pointing at them. A run resumed from
    latest.json continues exactly where it was taken, so a seeded run that
    is interrupted and resumed ends like an uninterrupted one (within float
    tolerance; the best training prefix exactly).

What every trainer shares (metrics.csv, TensorBoard, the progress line,
checkpoints and resume, the best training prefix) is its base class,
rlgraph_xflow.execution.training.Trainer.
"""
from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np

from rlgraph_xflow.execution.episodes import replay_steps
from rlgraph_xflow.execution.rollout_buffer import RolloutBuffer
from rlgraph_xflow.execution.training import BestTrainingPrefix, Trainer, TrainingSummary

METRIC_FIELDS = [
    "update", "env_steps", "wall_seconds", "episodes", "episode_reward", "episode_final_cost_ms", "total_loss",
    "policy_loss", "value_loss", "xfer_entropy", "location_entropy", "approximate_kl", "gradient_norm",
    "imitation_loss", "imitated_fraction",
]


class PPOTrainer(Trainer):
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
        progress: show a progress line on stderr.
        imitation_env: for an agent with imitate(): an XflowEnv like the
            rollout environments (no exploration bonus) in which the best
            training prefix is replayed for it; None: no imitation.
    """

    def __init__(self, agent, execution, run_dir: str, total_env_steps: int, checkpoint_every: int = 5, seed: int = 0,
                 keep_episodes: int = 64, progress: bool = True, imitation_env=None):
        super().__init__(agent, run_dir, METRIC_FIELDS, keep_episodes=keep_episodes, progress=progress)
        self.execution = execution
        self.total_env_steps = total_env_steps
        self.checkpoint_every = checkpoint_every
        self.buffer = RolloutBuffer(agent.num_envs, agent.rollout_steps, seed=seed)
        self.update = 0
        self.env_steps = 0
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

    # Checkpoints (the base class writes and reads them) ---------------------------
    @property
    def rows_logged(self) -> int:
        return self.update

    def checkpoint_name(self) -> str:
        return f"update-{self.update:06d}"

    def loop_state(self, name: str) -> dict:
        return {"update": self.update, "env_steps": self.env_steps, "execution": self.execution.get_state(),
                "buffer_rng": self.buffer.rng.bit_generator.state}

    def set_loop_state(self, state: dict) -> None:
        self.update, self.env_steps = int(state["update"]), int(state["env_steps"])
        self.execution.set_state(state["execution"])
        self.buffer.rng.bit_generator.state = state["buffer_rng"]

    # The loop ------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainingSummary:
        """Trains until the budget is spent (continuing a checkpoint if `resume`)."""
        self.start(resume)
        if not resume:
            self.execution.reset()
        while self.update < self.total_updates:
            started = time.perf_counter()
            self.buffer.clear()
            finished = self.execution.collect(self.agent, self.buffer)
            bootstrap = self.agent.bootstrap_values(self.execution.observation)
            losses = self.agent.update(self.buffer, bootstrap)
            self.record_episodes(finished)
            if self.imitation_env is not None and self.best_training_prefix is not None and self.best_training_prefix.steps:
                losses = {**losses, **self._imitate_best_prefix()}
            self.update += 1
            self.env_steps += self.steps_per_update
            self.wall_seconds += time.perf_counter() - started
            self.episodes += len(finished)
            self.remember_applied([episode.applied_xfers for episode in finished])
            row = {
                "update": self.update, "env_steps": self.env_steps, "wall_seconds": round(self.wall_seconds, 6),
                "episodes": len(finished),
                "episode_reward": float(np.mean([e.reward for e in finished])) if finished else float("nan"),
                "episode_final_cost_ms": float(np.mean([e.final_runtime_ms for e in finished])) if finished else float("nan"),
                **{key: losses.get(key, "") for key in METRIC_FIELDS[6:]},
            }
            self.log_row(row, step=self.env_steps)
            if self.progress:
                reward = row["episode_reward"]
                self.show_progress(f"update {self.update}/{self.total_updates}, {self.env_steps} env steps, "
                                   f"reward {'-' if math.isnan(reward) else f'{reward:.4f}'}, loss {row['total_loss']:.4f}",
                                   self.update, self.total_updates)
            if self.update % self.checkpoint_every == 0 or self.update == self.total_updates:
                self.save_checkpoint()
        self.finish()
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
