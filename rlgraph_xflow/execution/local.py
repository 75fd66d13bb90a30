"""LocalExecution: rollouts from a batched environment in this process.

Classes in this file:
  EpisodeRecord: what one finished episode achieved.
  LocalExecution: steps `num_envs` environments with an agent's actions,
    fills a rollout buffer, and reports finished episodes. Its state (the
    episodes in progress) can be saved and restored, so a resumed run
    continues exactly where the checkpoint was taken. Registered as
    execution type "local" (the default; no server, nothing to start).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from rlgraph_xflow.env.vector_env import BatchedXflowEnv
from rlgraph_xflow.execution import EXECUTIONS


@dataclasses.dataclass
class EpisodeRecord:
    reward: float
    length: int
    final_runtime_ms: float
    applied_xfers: list


@EXECUTIONS.register("local")
class LocalExecution:
    """Collects rollouts in-process.

    Args:
        env_spec: XflowEnv arguments (the config's `env:` without `type`).
        num_envs: environments stepped together.
    """

    def __init__(self, env_spec: dict, num_envs: int, key_path: str = "execution"):
        self.env = BatchedXflowEnv.from_spec(num_envs, **env_spec)
        self.num_envs = num_envs
        self.observation = None
        self._episode_rewards = np.zeros(num_envs)
        self._episode_lengths = np.zeros(num_envs, np.int64)
        self._episode_xfers = [[] for _ in range(num_envs)]

    @property
    def sample_env(self):
        """One of the environments (for sizes, names, the initial graph)."""
        return self.env.envs[0]

    def reset(self) -> None:
        self.observation, _ = self.env.reset()
        self._episode_rewards[:] = 0
        self._episode_lengths[:] = 0
        self._episode_xfers = [[] for _ in range(self.num_envs)]

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
            observation, rewards, terminated, truncated, infos = self.env.step(stacked)
            dones = terminated | truncated
            buffer.add(singles, actions["xfers"], actions["locations"], rewards, dones, actions["values"], actions["log_probs"])
            self._episode_rewards += rewards
            self._episode_lengths += 1
            for index, info in enumerate(infos):
                if actions["xfers"][index] < self.env.num_xfers and not info["invalid"]:
                    self._episode_xfers[index].append(int(actions["xfers"][index]))
                if dones[index]:
                    finished.append(EpisodeRecord(float(self._episode_rewards[index]), int(self._episode_lengths[index]),
                                                  float(info["runtime_ms"]), self._episode_xfers[index]))
                    self._episode_rewards[index] = 0
                    self._episode_lengths[index] = 0
                    self._episode_xfers[index] = []
            self.observation = observation
        return finished

    def get_state(self) -> dict:
        return {
            "envs": self.env.get_state(),
            "episode_rewards": self._episode_rewards.tolist(),
            "episode_lengths": self._episode_lengths.tolist(),
            "episode_xfers": [list(xfers) for xfers in self._episode_xfers],
        }

    def set_state(self, state: dict) -> None:
        self.observation = self.env.set_state(state["envs"])
        self._episode_rewards = np.asarray(state["episode_rewards"], np.float64)
        self._episode_lengths = np.asarray(state["episode_lengths"], np.int64)
        self._episode_xfers = [list(xfers) for xfers in state["episode_xfers"]]

    def close(self) -> None:
        """Nothing to release in-process (Ray execution shuts its cluster down here)."""
