"""WorldModelTrainer: the model-based agent's rounds of real collection, world-model training and dreaming.

Classes in this file:
  DreamRollout: T steps of B dream episodes, stored as fixed-shape arrays
    (a dream observation has no graph, so no GraphsTuple batching is needed)
    and served as shuffled PPO minibatches.
  WorldModelTrainer: trains a WorldModelAgent in `agent.rounds` rounds (the
    iterative training procedure of Ha and Schmidhuber 2018; Dyna-style).
    Each round has a world-model phase: real episodes collected through the
    execution (local or Ray workers), by the random agent in round 1
    (dissertation 3.4.1) and by the controller's sampled actions, mixed
    with random ones (agent.real_exploration), in later rounds; after each
    iteration's collection the MDN-RNN trains on EVERY real episode so far
    (an EpisodeDataset). Then a dream phase: the PPO controller trains in a
    DreamEnv of the current world model (3.4.2). Its run(resume) returns a
    TrainingSummary whose env_steps are REAL environment steps, whose
    best_training_prefix is the cheapest graph any real episode of any
    round reached (dream steps never count: their graphs are imagined), and
    whose extra_result holds real_env_steps, dream_steps,
    world_model_metrics, rounds and the dream score.

Budgets: the world-model phases take ceil(total_env_steps / (num_envs x
rollout_steps)) iterations of num_envs x rollout_steps real steps each,
split over the rounds as evenly as possible (earlier rounds take the extra
one; a budget of fewer iterations than agent.rounds runs one round per
iteration); a round's dream phase takes ceil(dream_steps_per_env_step x that
round's real steps / (dream_envs x dream_rollout_steps)) controller updates
(at least one). Each iteration's world-model training is
world_model_epochs passes over the dataset, world_model_minibatch_size
episodes per gradient step. Every round starts new real episodes; the
episodes still running when its collection ends join the dataset as the
prefixes they are.

Held-out metrics: each iteration's new episodes are scored by the world
model before they join the dataset (progressive validation), so every
reported figure comes from real episodes the model had not seen (in later
rounds, episodes where the controller went); world_model_metrics are those
of the last iteration.

metrics.csv holds one row per world-model iteration and per controller
update (columns "round", 1-based, and "phase"). episode_reward and
episode_final_cost_ms are those of REAL episodes (random-agent episodes in
round 1, the exploring controller's later), so they appear in world-model
rows only; the controller's dream returns are in dream_episode_reward.

Checkpoints and --resume: a checkpoint is written when a round's
world-model phase finishes and every `checkpoint_every` controller updates
of its dream phase (and at its end): the agent's variables (including the
world model's and the sampler's random streams), the dataset (one .npz per
round, as it only changes in the world-model phase), the DreamEnv's
episodes, the random generators, the best training prefix and the
counters, written and read by the base class every trainer shares
(rlgraph_xflow.execution.training.Trainer, which also keeps metrics.csv,
TensorBoard and the progress line). A world-model phase is not
checkpointed mid-way: a run interrupted there resumes from the previous
round's last checkpoint (no checkpoint before round 1's ends: the run is
started again).
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from rlgraph_xflow.agents.world_model_episodes import EpisodeDataset, RealEpisodeCollector, pad_episodes, world_model_metrics
from rlgraph_xflow.core import checkpoint
from rlgraph_xflow.env import dream_env
from rlgraph_xflow.env.dream_env import DreamEnv
from rlgraph_xflow.env.observation import LOCATION_MASKS, XFER_MASK
from rlgraph_xflow.execution.local import random_valid_actions
from rlgraph_xflow.execution.training import Trainer, TrainingSummary

WORLD_MODEL_PHASE, DREAM_PHASE = "world_model", "dream"
METRIC_FIELDS = [
    "update", "round", "phase", "env_steps", "dream_steps", "wall_seconds", "episodes", "episode_reward", "episode_final_cost_ms",
    "dream_episodes", "dream_episode_reward", "world_model_loss", "z_nll", "reward_mae", "done_accuracy",
    "xfer_mask_accuracy", "location_mask_accuracy", "mask_accuracy", "total_loss", "policy_loss", "value_loss",
    "xfer_entropy", "location_entropy", "approximate_kl", "gradient_norm",
]
_DREAM_STEP_FIELDS = ("z", "hidden_state", "xfer_mask", "location_counts", "xfers", "locations", "rewards", "dones",
                      "values", "log_probs")


class DreamRollout:
    """T steps of B dream rows (location counts, not masks: the controller builds the masks from them)."""

    def __init__(self):
        self.steps = {field: [] for field in _DREAM_STEP_FIELDS}

    def add(self, observation: dict, actions: dict, rewards, dones) -> None:
        values = {"z": observation[dream_env.LATENT], "hidden_state": observation[dream_env.HIDDEN_STATE],
                  "xfer_mask": observation[dream_env.XFER_MASK], "location_counts": observation[dream_env.LOCATION_COUNTS],
                  "xfers": actions["xfers"], "locations": actions["locations"], "rewards": rewards, "dones": dones,
                  "values": actions["values"], "log_probs": actions["log_probs"]}
        for field, value in values.items():
            self.steps[field].append(np.array(value))

    def series(self, field: str) -> np.ndarray:
        """[B, T] (or [B, T, ...]) array of one field."""
        return np.stack(self.steps[field], axis=1)

    def minibatches(self, batch_size: int, rng, advantages: np.ndarray, returns: np.ndarray):
        """Shuffled minibatches covering every step once (agent.update's keys)."""
        arrays = {field: self.series(field) for field in _DREAM_STEP_FIELDS}
        rows, steps = arrays["rewards"].shape
        order = rng.permutation(rows * steps)
        for start in range(0, len(order), batch_size):
            flat = order[start:start + batch_size]
            row, step = flat // steps, flat % steps
            batch = {field: values[row, step] for field, values in arrays.items()}
            batch["advantages"], batch["returns"] = advantages[row, step], returns[row, step]
            yield batch


class WorldModelTrainer(Trainer):
    """Trains a WorldModelAgent in rounds: real episodes -> world model -> controller in the dream.

    Args:
        agent: the WorldModelAgent (its rounds, real_exploration and budgets).
        execution: LocalExecution or RayExecution; its environments supply the
            real episodes and its sample environment the initial graph.
        run_dir: where metrics.csv, tensorboard/ and checkpoints/ go.
        total_env_steps: the real-environment budget (all rounds together).
        checkpoint_every: controller updates between dream-phase checkpoints.
        seed: seed of the random agent, the exploration and the minibatch shuffling.
        keep_episodes: how many dream episodes' applied xfers to keep (report heatmap).
        progress: print a progress line to stderr.

    Raises:
        ValueError: the execution cannot collect real episodes.
    """

    def __init__(self, agent, execution, run_dir: str, total_env_steps: int, checkpoint_every: int = 5, seed: int = 0,
                 keep_episodes: int = 64, progress: bool = True):
        if not hasattr(execution, "collect_transitions") or not hasattr(execution, "sample_env"):
            raise ValueError(f"the world-model agent collects real episodes through an execution's "
                             f"collect_transitions (execution type 'local' or 'ray'); got {type(execution).__name__}")
        super().__init__(agent, run_dir, METRIC_FIELDS, keep_episodes=keep_episodes, progress=progress,
                         resume_hint="; the first checkpoint is written when round 1's world-model phase finishes")
        self.execution, self.checkpoint_every, self.seed = execution, checkpoint_every, seed
        self.steps_per_iteration = agent.num_envs * agent.rollout_steps
        self.iterations = max(1, math.ceil(total_env_steps / self.steps_per_iteration))
        # A round needs at least one iteration: a budget too small for
        # agent.rounds runs fewer (result.json's "rounds" says how many).
        rounds = min(agent.rounds, self.iterations)
        if rounds < agent.rounds and progress:
            sys.stderr.write(f"world model: training.total_env_steps = {total_env_steps} gives {self.iterations} iteration(s) "
                             f"of agent.num_envs x agent.rollout_steps = {self.steps_per_iteration} real steps, so "
                             f"{rounds} round(s) instead of agent.rounds = {agent.rounds}\n")
        self.round_iterations = [len(part) for part in np.array_split(np.arange(self.iterations), rounds)]
        self.steps_per_update = agent.dream_envs * agent.dream_rollout_steps
        self.round_dream_updates = [
            max(1, math.ceil(agent.dream_steps_per_env_step * iterations * self.steps_per_iteration / self.steps_per_update))
            for iterations in self.round_iterations]
        self.dream_updates = sum(self.round_dream_updates)
        self.rng = np.random.default_rng(seed)
        # The real episodes' own stream (random agent, exploration), apart
        # from the shuffling's, so the shuffling does not change what is collected.
        self.collection_rng = np.random.default_rng(seed)
        self.dataset = EpisodeDataset(agent.world_model_dataset_episodes)
        self.dataset_file = None
        self.round = 0
        self.phase = WORLD_MODEL_PHASE
        self.row = 0
        self.dream_update = 0
        self.real_env_steps = 0
        self.dream_steps = 0
        self.world_model_metrics: dict = {}
        self.dream = None
        self._saved_dream = None

    # Checkpoints (the base class writes and reads them) -----------------------------
    @property
    def rows_logged(self) -> int:
        return self.row

    def checkpoint_name(self) -> str:
        return f"{self.phase}-{self.row:06d}"

    def loop_state(self, name: str) -> dict:
        """The counters and generators, and the dataset (once per round) and the dream episodes in files of their own."""
        if self.dataset_file is None:
            # The dataset only changes in world-model phases, so a dream
            # phase's checkpoints share the file written when it began.
            self.dataset_file = os.path.basename(checkpoint.save_variables(
                self.dataset.get_state(), os.path.join(self.checkpoint_dir, f"{name}-dataset.npz")))
        dream_path = None
        if self.dream is not None and self.dream.state is not None:
            dream_path = checkpoint.save_variables(self.dream.get_state(), os.path.join(self.checkpoint_dir, f"{name}-dream.npz"))
        return {
            "round": self.round, "phase": self.phase, "row": self.row, "dream_update": self.dream_update,
            "real_env_steps": self.real_env_steps, "dream_steps": self.dream_steps,
            "world_model_metrics": self.world_model_metrics,
            "rng": self.rng.bit_generator.state, "collection_rng": self.collection_rng.bit_generator.state,
            "dataset": self.dataset_file, "dream": os.path.basename(dream_path) if dream_path else None,
        }

    def set_loop_state(self, state: dict) -> None:
        self.round, self.phase, self.row = int(state["round"]), state["phase"], int(state["row"])
        self.dream_update = int(state["dream_update"])
        self.real_env_steps, self.dream_steps = int(state["real_env_steps"]), int(state["dream_steps"])
        self.world_model_metrics = state["world_model_metrics"]
        self.rng.bit_generator.state = state["rng"]
        self.collection_rng.bit_generator.state = state["collection_rng"]
        self.dataset_file = state["dataset"]
        self.dataset.set_state(checkpoint.load_arrays(os.path.join(self.checkpoint_dir, self.dataset_file)))
        self._saved_dream = (checkpoint.load_arrays(os.path.join(self.checkpoint_dir, state["dream"]))
                             if state["dream"] else None)

    # The loop ------------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainingSummary:
        """Runs every round (continuing a checkpoint if `resume`)."""
        self._saved_dream = None
        self.start(resume)
        sample_env = self.execution.sample_env
        initial_observation, initial_info = sample_env.reset()
        self.agent.remember_initial_observation(initial_observation)
        while True:
            if self.phase == WORLD_MODEL_PHASE:
                self._train_world_model(float(initial_info["runtime_ms"]))
                self.phase, self.dream_update, self.dream = DREAM_PHASE, 0, None
                self.save_checkpoint()
            self._train_controller(initial_observation, sample_env)
            if self.round == len(self.round_iterations) - 1:
                break
            self.round, self.phase, self.dream, self._saved_dream = self.round + 1, WORLD_MODEL_PHASE, None, None
        self.finish()
        dream_score = self.dream_score(initial_observation, sample_env)
        extra = {"real_env_steps": self.real_env_steps, "dream_steps": self.dream_steps,
                 "world_model_metrics": self.world_model_metrics, "temperature": self.agent.temperature,
                 "rounds": len(self.round_iterations), "dream_score": dream_score}
        return TrainingSummary(self.iterations + self.dream_updates, self.real_env_steps, self.wall_seconds, self.episodes,
                               self.recent_applied, extra_result=extra, best_training_prefix=self.best_training_prefix)

    def _controller_actions(self, observation: dict) -> np.ndarray:
        """The controller's sampled actions, each replaced by a random valid one with probability real_exploration."""
        agent = self.agent
        actions = agent.act(observation)
        chosen = np.stack([actions["xfers"], actions["locations"]], axis=1).astype(np.int64)
        explore = self.collection_rng.random(len(chosen)) < agent.real_exploration
        if explore.any():
            chosen[explore] = random_valid_actions(np.asarray(observation[LOCATION_MASKS])[explore], self.collection_rng,
                                                   agent.sizes.num_xfers)
            agent.set_taken_actions(chosen[:, 0], chosen[:, 1])
        return chosen

    def _train_world_model(self, initial_runtime_ms: float) -> None:
        """One round's world-model phase: collect its iterations' real steps, training on the dataset after each."""
        agent = self.agent
        collector = RealEpisodeCollector(self.execution, agent.encode, initial_runtime_ms, agent.sizes.num_xfers)
        collector.reset()
        agent.reset_memory()
        iterations = self.round_iterations[self.round]
        for iteration in range(iterations):
            started = time.perf_counter()
            if self.round == 0:
                finished = collector.collect_random(agent.rollout_steps, self.collection_rng)
            else:
                finished = collector.collect_chosen(agent.rollout_steps, self._controller_actions)
            self.real_env_steps += self.steps_per_iteration
            real_episodes = list(finished)
            new_episodes = list(finished)
            if iteration == iterations - 1:
                # The next round starts new episodes, so the ones still
                # running join the data as the valid prefixes they are.
                new_episodes += collector.unfinished()
            self.record_episodes([episode.outcome_so_far() for episode in new_episodes])
            held_out = {}
            if new_episodes:
                batch = pad_episodes(new_episodes)
                parts, predictions = agent.evaluate_world_model(batch)
                held_out = world_model_metrics(batch, predictions, parts["z_nll"], agent.sizes.max_locations, agent.done_threshold)
                self.world_model_metrics = held_out
                self.dataset.add(new_episodes)
                self.dataset_file = None
            losses = self._world_model_epochs() if len(self.dataset) else {}
            self.episodes += len(real_episodes)
            self.wall_seconds += time.perf_counter() - started
            self.row += 1
            self._log({
                "phase": WORLD_MODEL_PHASE, "episodes": len(real_episodes),
                "episode_reward": float(np.mean([sum(e.rewards) for e in real_episodes])) if real_episodes else math.nan,
                "episode_final_cost_ms": float(np.mean([e.outcome.final_runtime_ms for e in real_episodes])) if real_episodes else math.nan,
                "world_model_loss": losses.get("total_loss", math.nan), "gradient_norm": losses.get("gradient_norm", math.nan),
                **{key: held_out.get(key, math.nan) for key in ("z_nll", "reward_mae", "done_accuracy", "xfer_mask_accuracy",
                                                                 "location_mask_accuracy", "mask_accuracy")},
            }, f"round {self.round + 1}, world model {iteration + 1}/{iterations}, {self.real_env_steps} real steps, "
               f"{len(self.dataset)} episodes, held-out z NLL {held_out.get('z_nll', math.nan):.3f}")

    def _world_model_epochs(self) -> dict:
        """world_model_epochs passes over the dataset; the mean loss parts."""
        agent = self.agent
        totals: dict = {}
        count = 0
        for _ in range(agent.world_model_epochs):
            for batch in self.dataset.minibatches(agent.world_model_minibatch_size, self.rng):
                for key, value in agent.update_world_model(batch).items():
                    totals[key] = totals.get(key, 0.0) + value
                count += 1
        return {key: value / count for key, value in totals.items()}

    def _make_dream(self, initial_observation: dict, sample_env, num_envs: int) -> DreamEnv:
        agent = self.agent
        initial_z = agent.encode(initial_observation["graph_tuple"])[0]
        return DreamEnv(agent, initial_z, initial_observation[XFER_MASK], np.asarray(initial_observation[LOCATION_MASKS]).sum(-1),
                        num_envs=num_envs, max_locations=agent.sizes.max_locations, lstm_units=agent.lstm_units,
                        max_steps=sample_env.max_steps, invalid_reward=sample_env.invalid_reward,
                        done_threshold=agent.done_threshold)

    def _train_controller(self, initial_observation: dict, sample_env) -> None:
        """One round's dream phase: its controller updates in a DreamEnv of the current world model."""
        agent = self.agent
        updates = self.round_dream_updates[self.round]
        self.dream = self._make_dream(initial_observation, sample_env, agent.dream_envs)
        if self._saved_dream is not None:
            observation = self.dream.set_state(self._saved_dream)
        else:
            observation, _ = self.dream.reset()
        rows = np.arange(agent.dream_envs)
        returns_so_far = np.zeros(agent.dream_envs)
        # The xfers each row's episode applied so far: an episode has at most
        # max_steps steps, so one fixed array holds them all.
        applied_so_far = np.zeros((agent.dream_envs, self.dream.max_steps), np.int64)
        applied_counts = np.zeros(agent.dream_envs, np.int64)
        while self.dream_update < updates:
            started = time.perf_counter()
            rollout = DreamRollout()
            finished_returns = []
            for _ in range(agent.dream_rollout_steps):
                actions = agent.act(observation)
                stacked = np.stack([actions["xfers"], actions["locations"]], axis=1).astype(np.int64)
                next_observation, rewards, terminated, truncated, info = self.dream.step(stacked)
                dones = terminated | truncated
                rollout.add(observation, actions, rewards, dones)
                returns_so_far += rewards
                applied = (actions["xfers"] < agent.sizes.num_xfers) & ~info["invalid"]
                applied_so_far[rows[applied], applied_counts[applied]] = actions["xfers"][applied]
                applied_counts += applied
                for row in np.flatnonzero(dones):
                    finished_returns.append(float(returns_so_far[row]))
                    self.remember_applied([applied_so_far[row, :applied_counts[row]].tolist()])
                returns_so_far[dones], applied_counts[dones] = 0.0, 0
                observation = next_observation
            advantages, returns = agent.estimate_advantages(rollout.series("rewards"), rollout.series("values"),
                                                            rollout.series("dones"), agent.bootstrap_values(observation))
            totals: dict = {}
            count = 0
            for _ in range(agent.epochs):
                for batch in rollout.minibatches(agent.minibatch_size, self.rng, advantages, returns):
                    for key, value in agent.update(batch).items():
                        totals[key] = totals.get(key, 0.0) + value
                    count += 1
            losses = {key: value / count for key, value in totals.items()}
            self.dream_update += 1
            self.dream_steps += self.steps_per_update
            self.wall_seconds += time.perf_counter() - started
            self.row += 1
            self._log({"phase": DREAM_PHASE, "dream_episodes": len(finished_returns),
                       "dream_episode_reward": float(np.mean(finished_returns)) if finished_returns else math.nan,
                       **{key: losses.get(key, math.nan) for key in ("total_loss", "policy_loss", "value_loss", "xfer_entropy",
                                                                     "location_entropy", "approximate_kl", "gradient_norm")}},
                      f"round {self.round + 1}, dream {self.dream_update}/{updates}, {self.dream_steps} dream steps, "
                      f"dream return {np.mean(finished_returns) if finished_returns else math.nan:.4f}")
            if self.dream_update % self.checkpoint_every == 0 or self.dream_update == updates:
                self.save_checkpoint()

    def dream_score(self, initial_observation: dict, sample_env) -> float:
        """Mean return of one greedy-controller episode per dream row (the world model's score of the policy).

        Uses a fresh DreamEnv, so the training dream's episodes are untouched;
        dream steps spent here are not counted (they train nothing).
        """
        agent = self.agent
        dream = self._make_dream(initial_observation, sample_env, agent.dream_envs)
        observation, _ = dream.reset()
        returns = np.zeros(agent.dream_envs)
        running = np.ones(agent.dream_envs, bool)
        for _ in range(sample_env.max_steps):
            actions = agent.act(observation, greedy=True)
            observation, rewards, terminated, truncated, _ = dream.step(
                np.stack([actions["xfers"], actions["locations"]], axis=1).astype(np.int64))
            returns += np.where(running, rewards, 0.0)
            running &= ~(terminated | truncated)
            if not running.any():
                break
        return float(returns.mean())

    def _log(self, values: dict, text: str) -> None:
        row = {field: math.nan for field in METRIC_FIELDS}
        row.update({"update": self.row, "round": self.round + 1, "env_steps": self.real_env_steps, "dream_steps": self.dream_steps,
                    "wall_seconds": round(self.wall_seconds, 6), "episodes": 0, "dream_episodes": 0})
        row.update(values)
        self.log_row(row, step=self.row)
        total = self.iterations + self.dream_updates
        self.show_progress(f"row {self.row}/{total}: {text}", self.row, total)
