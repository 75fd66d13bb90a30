"""LocalExecution: rollouts from a batched environment in this process.

Classes and functions in this file:
  EpisodeRecord: what one finished episode achieved: reward, length, final
    runtime, the (xfer, location) rewrites it applied, and its best prefix
    (the lowest runtime among its graphs, the initial one included, and how
    many of its rewrites reach it).
  EpisodeProgress: the record of an episode in progress, step by step.
  Transition: one step of every environment (random or chosen actions),
    with the ended episodes' last observations (what the world model learns
    from).
  random_valid_actions: the random agent: per environment, a uniform choice
    among the valid (xfer, location) pairs and NO-OP.
  LocalExecution: steps `num_envs` environments with an agent's actions
    (collect, filling a rollout buffer), with a caller's actions
    (collect_transitions) or the random agent's (collect_random_transitions),
    and reports finished episodes. Its state
    (the episodes in progress) can be saved and restored, so a resumed run
    continues exactly where the checkpoint was taken. Registered as
    execution type "local" (the default; no server, nothing to start).

Why an episode's best prefix is a prefix of its applied rewrites: an invalid
action and NO-OP leave the graph as it is, so the graph after any step of
an episode is the initial graph with the rewrites applied so far.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.env.observation import LOCATION_MASKS
from rlgraph_xflow.env.vector_env import BatchedXflowEnv
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.execution.registry import EXECUTIONS


def _check_steps_per_env(steps_per_env, caller: str) -> None:
    if not is_int(steps_per_env, allow_numpy=True) or steps_per_env < 1:
        raise ValueError(f"{caller}: steps_per_env must be an int >= 1, got {steps_per_env!r}")


@dataclasses.dataclass
class EpisodeRecord:
    """One finished episode.

    Attributes:
        reward: the summed reward.
        length: environment steps, NO-OP and invalid actions included.
        final_runtime_ms: the runtime of the graph the episode ended with.
        applied_steps: the (xfer, location) of every applied rewrite, in
            order: replaying them from the initial graph rebuilds the episode.
        best_runtime_ms: the lowest runtime among the episode's graphs (the
            initial graph and the graph after each applied rewrite).
        best_prefix_length: how many of applied_steps reach it (0: the
            initial graph; the first such prefix when several tie).
    """

    reward: float
    length: int
    final_runtime_ms: float
    applied_steps: list
    best_runtime_ms: float
    best_prefix_length: int

    @property
    def applied_xfers(self) -> list:
        """The xfer id of every applied rewrite, in order."""
        return [xfer for xfer, _ in self.applied_steps]


class EpisodeProgress:
    """An episode in progress; `record` turns it into an EpisodeRecord when it ends.

    Args:
        initial_runtime_ms: the runtime of the episode's first graph.
        num_xfers: N, the NO-OP id.
    """

    def __init__(self, initial_runtime_ms: float, num_xfers: int):
        self.num_xfers = num_xfers
        self.reward = 0.0
        self.length = 0
        self.applied_steps: list = []
        self.best_runtime_ms = float(initial_runtime_ms)
        self.best_prefix_length = 0

    def add_step(self, xfer: int, location: int, reward: float, info: dict) -> None:
        """Adds one step: its action, its reward and the environment's info (its "invalid" and "runtime_ms")."""
        self.reward += float(reward)
        self.length += 1
        if int(xfer) >= self.num_xfers or info["invalid"]:
            return  # NO-OP or an invalid action: the graph did not change
        self.applied_steps.append((int(xfer), int(location)))
        # Strictly lower: of equally cheap graphs the shortest prefix is kept.
        if info["runtime_ms"] < self.best_runtime_ms:
            self.best_runtime_ms = float(info["runtime_ms"])
            self.best_prefix_length = len(self.applied_steps)

    def record(self, final_runtime_ms: float) -> EpisodeRecord:
        return EpisodeRecord(float(self.reward), int(self.length), float(final_runtime_ms), list(self.applied_steps),
                             self.best_runtime_ms, self.best_prefix_length)

    def get_state(self) -> dict:
        return {"reward": self.reward, "length": self.length, "applied_steps": [list(step) for step in self.applied_steps],
                "best_runtime_ms": self.best_runtime_ms, "best_prefix_length": self.best_prefix_length}

    @classmethod
    def from_state(cls, state: dict, num_xfers: int) -> "EpisodeProgress":
        progress = cls(state["best_runtime_ms"], num_xfers)
        progress.reward, progress.length = float(state["reward"]), int(state["length"])
        progress.applied_steps = [(int(xfer), int(location)) for xfer, location in state["applied_steps"]]
        progress.best_prefix_length = int(state["best_prefix_length"])
        return progress


@dataclasses.dataclass
class Transition:
    """One step of every environment (the random agent's or a caller's actions).

    Attributes:
        actions: [B, 2] (xfer, location) per environment.
        rewards: [B].
        dones: [B] terminated or truncated.
        infos: B step infos (runtime_ms, invalid, ...; for an ended episode,
            those of its last step).
        observation: the batched observation after the step; an ended
            environment's row is the next episode's first observation.
        final_observations: environment index -> the last observation of the
            episode that ended there (the state its last action led to).
        finished: environment index -> the EpisodeRecord of that episode.
    """

    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    infos: list
    observation: dict
    final_observations: dict
    finished: dict


def random_valid_actions(location_masks, rng: np.random.Generator, num_xfers: int) -> np.ndarray:
    """The random agent's actions for a batch: per row, uniform among the valid (xfer, location) pairs and NO-OP.

    Args:
        location_masks: [B, N, L] booleans (an observation's location_masks).
        rng: the random agent's generator (one integer drawn per row, in row order).
        num_xfers: N, the NO-OP id.

    Returns:
        [B, 2] int64 actions.
    """
    masks = np.asarray(location_masks)
    if masks.ndim != 3 or masks.shape[1] != num_xfers:
        raise ValueError(f"random_valid_actions: expected location masks of shape [B, {num_xfers}, L], got {masks.shape}")
    actions = np.zeros((masks.shape[0], 2), np.int64)
    for index in range(masks.shape[0]):
        valid = np.argwhere(masks[index])
        pick = rng.integers(len(valid) + 1)
        actions[index] = valid[pick] if pick < len(valid) else (num_xfers, 0)
    return actions


@EXECUTIONS.register("local")
class LocalExecution:
    """Collects rollouts in-process.

    Args:
        env_spec: XflowEnv arguments (the config's `env:` without `type`).
        num_envs: environments stepped together.
    """

    def __init__(self, env_spec: dict, num_envs: int, key_path: str = "execution"):
        self.env = BatchedXflowEnv.from_spec(num_envs, **env_spec)
        self.env_spec = dict(env_spec)
        self.num_envs = num_envs
        self.observation = None
        self._initial_runtimes: list = []
        self._episodes: list = []

    @property
    def sample_env(self):
        """One of the environments (for sizes, names, the initial graph)."""
        return self.env.envs[0]

    def make_env(self, **overrides):
        """A new XflowEnv like the rollout environments (sharing their graph and rule library), for the
        learner's own episodes (evaluation, replays); `overrides` replace env settings."""
        sample = self.sample_env
        return XflowEnv(**{**self.env_spec, "graph": sample.initial_graph, "rules": sample.library, **overrides})

    def reset(self) -> None:
        """Starts a new episode in every environment."""
        self.observation, infos = self.env.reset()
        # Every later episode of an environment starts at the same graph, so
        # its first runtime is known from here on.
        self._initial_runtimes = [float(info["runtime_ms"]) for info in infos]
        self._episodes = [EpisodeProgress(runtime, self.env.num_xfers) for runtime in self._initial_runtimes]

    def _step(self, actions: np.ndarray, keep_final_observations: bool):
        """The batched environment's step (the Ray execution's workers send final observations only when asked)."""
        return self.env.step(actions)

    def _record_step(self, xfers, locations, rewards, dones, infos) -> dict:
        """Adds one step to every episode in progress; returns index -> EpisodeRecord of the episodes that ended."""
        finished = {}
        for index, info in enumerate(infos):
            self._episodes[index].add_step(xfers[index], locations[index], rewards[index], info)
            if dones[index]:
                finished[index] = self._episodes[index].record(info["runtime_ms"])
                self._episodes[index] = EpisodeProgress(self._initial_runtimes[index], self.env.num_xfers)
        return finished

    def collect(self, agent, buffer) -> list[EpisodeRecord]:
        """Fills `buffer` with agent.rollout_steps steps of every environment.

        Returns:
            The episodes that finished during the rollout. Truncated episodes
            count as finished (their last value is not bootstrapped).
        """
        if self.observation is None:
            self.reset()
        finished = []
        while not buffer.is_full:
            actions = agent.act(self.observation)
            stacked = np.stack([actions["xfers"], actions["locations"]], axis=1).astype(np.int64)
            singles = self.env.observations
            observation, rewards, terminated, truncated, infos = self._step(stacked, keep_final_observations=False)
            dones = terminated | truncated
            buffer.add(singles, actions["xfers"], actions["locations"], rewards, dones, actions["values"], actions["log_probs"])
            finished.extend(self._record_step(stacked[:, 0], stacked[:, 1], rewards, dones, infos).values())
            self.observation = observation
        return finished

    def collect_transitions(self, steps_per_env: int, choose_actions: Callable) -> list[Transition]:
        """Steps every environment `steps_per_env` times with the actions `choose_actions` picks.

        Episodes in progress carry over from one call to the next; every
        step is recorded in the episodes' bookkeeping (their EpisodeRecords
        come back in the transitions of the steps that end them).

        Args:
            steps_per_env: steps of every environment (>= 1).
            choose_actions: batched observation -> [num_envs, 2] integer
                (xfer, location) actions; called once per step, in step order.

        Returns:
            One Transition per step.

        Raises:
            ValueError: for steps_per_env < 1, or actions of the wrong shape or type.
        """
        _check_steps_per_env(steps_per_env, "collect_transitions")
        if self.observation is None:
            self.reset()
        transitions = []
        for _ in range(steps_per_env):
            actions = np.asarray(choose_actions(self.observation))
            if actions.shape != (self.num_envs, 2) or not np.issubdtype(actions.dtype, np.integer):
                raise ValueError(f"collect_transitions: choose_actions must return integer actions of shape "
                                 f"({self.num_envs}, 2), got {actions.dtype} {actions.shape}")
            actions = actions.astype(np.int64)
            observation, rewards, terminated, truncated, infos = self._step(actions, keep_final_observations=True)
            dones = terminated | truncated
            finished = self._record_step(actions[:, 0], actions[:, 1], rewards, dones, infos)
            final_observations = {index: infos[index]["final_observation"] for index in finished}
            infos = [{key: value for key, value in info.items() if key != "final_observation"} for info in infos]
            transitions.append(Transition(actions, rewards, dones, infos, observation, final_observations, finished))
            self.observation = observation
        return transitions

    def collect_random_transitions(self, steps_per_env: int, rng: np.random.Generator) -> list[Transition]:
        """collect_transitions with the random agent's actions (random_valid_actions).

        The actions are drawn here, from `rng`, in environment order, so the
        same generator state gives the same transitions whatever steps the
        environments (in this process or on Ray workers).

        Args:
            steps_per_env: steps of every environment (>= 1).
            rng: the random agent's generator (advanced by this call).

        Returns:
            One Transition per step.
        """
        _check_steps_per_env(steps_per_env, "collect_random_transitions")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"collect_random_transitions: rng must be a numpy Generator, got {type(rng).__name__}")
        return self.collect_transitions(
            steps_per_env, lambda observation: random_valid_actions(observation[LOCATION_MASKS], rng, self.env.num_xfers))

    def get_state(self) -> dict:
        return {
            "envs": self.env.get_state(),
            "initial_runtimes": list(self._initial_runtimes),
            "episodes": [episode.get_state() for episode in self._episodes],
        }

    def set_state(self, state: dict) -> None:
        self.observation = self.env.set_state(state["envs"])
        self._initial_runtimes = [float(runtime) for runtime in state["initial_runtimes"]]
        self._episodes = [EpisodeProgress.from_state(episode, self.env.num_xfers) for episode in state["episodes"]]

    def close(self) -> None:
        """Nothing to release in-process (Ray execution shuts its cluster down here)."""
