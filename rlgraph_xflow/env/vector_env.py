"""BatchedXflowEnv: B graph-optimisation environments stepped together.

Classes in this file:
  BatchedXflowEnv: steps B XflowEnvs with one [B, 2] action array; the B
    observations batch into one observation (one GraphsTuple of B graphs,
    masks stacked), the way the agent consumes them. An environment whose
    episode ended is reset at once (gymnasium's next-step autoreset would
    hand the agent a step with no action effect); the observation it
    returns is the new episode's first, and its info carries the ended
    episode's last observation under "final_observation".

Each environment owns its engine state, so environments never share a graph.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.env.observation import batch_observations
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.graphs import substitutions


class BatchedXflowEnv:
    """B environments, one batched observation.

    Args:
        envs: the environments (e.g. several XflowEnvs on different graphs, or
            copies on one graph); all must share the rule library size and
            location cap so their masks stack.
    """

    def __init__(self, envs: Sequence[XflowEnv]):
        if not envs:
            raise ValueError("BatchedXflowEnv needs at least one environment")
        shapes = {(env.num_xfers, env.max_locations, env.max_pattern_ops) for env in envs}
        if len(shapes) != 1:
            raise ValueError(f"environments disagree on (num_xfers, max_locations, max_pattern_ops): {sorted(shapes)}")
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        self.num_xfers = self.envs[0].num_xfers

    @classmethod
    def from_spec(cls, num_envs: int, **env_arguments) -> "BatchedXflowEnv":
        """`num_envs` XflowEnvs built with the same arguments (one rule library)."""
        if not is_int(num_envs) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        if env_arguments.get("rules") is None or not isinstance(env_arguments["rules"], substitutions.RuleLibrary):
            env_arguments["rules"] = substitutions.load_rules(env_arguments.get("rules"))
        first = XflowEnv(**env_arguments)
        env_arguments["graph"] = first.initial_graph
        return cls([first] + [XflowEnv(**env_arguments) for _ in range(num_envs - 1)])

    def reset(self, seed: int | None = None):
        results = [env.reset(seed=None if seed is None else seed + index) for index, env in enumerate(self.envs)]
        self.observations = [observation for observation, _ in results]
        return batch_observations(self.observations), [info for _, info in results]

    def get_state(self) -> list:
        return [env.get_state() for env in self.envs]

    def set_state(self, states: list) -> dict:
        """Restores every environment's episode; returns the batched observation."""
        if len(states) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} environment states, got {len(states)}")
        for env, state in zip(self.envs, states):
            env.set_state(state)
        self.observations = [env.observe() for env in self.envs]
        return batch_observations(self.observations)

    def step(self, actions):
        """Steps every environment.

        Args:
            actions: [B, 2] integers, one (xfer_id, location) per environment.

        Returns:
            (batched observation, rewards [B], terminated [B], truncated [B],
            infos: list of B dicts).
        """
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, 2) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be integers of shape ({self.num_envs}, 2), got {actions.dtype} {actions.shape}")
        observations, rewards, terminated, truncated, infos = [], [], [], [], []
        for env, action in zip(self.envs, actions):
            observation, reward, done, cut, info = env.step((int(action[0]), int(action[1])))
            if done or cut:
                info = dict(info, final_observation=observation)
                observation, _ = env.reset()
            observations.append(observation)
            rewards.append(reward)
            terminated.append(done)
            truncated.append(cut)
            infos.append(info)
        self.observations = observations
        return (batch_observations(observations), np.asarray(rewards, np.float32), np.asarray(terminated),
                np.asarray(truncated), infos)
