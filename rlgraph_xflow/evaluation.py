"""Evaluating agents in the real environment.

Functions in this file:
  EpisodeResult: an episode's final graph, the rewrites it applied (xfer
    ids, names and (xfer, location) steps), its reward and final runtime.
  run_greedy_episode: one episode of an agent's greedy policy.
  run_random_episodes: the random-agent baseline: uniformly random valid
    (xfer, location) pairs, NO-OP included, seeded.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from rlgraph_xflow.env.observation import LOCATION_MASKS, batch_observations


@dataclasses.dataclass
class EpisodeResult:
    final_graph: object  # XflowGraph
    applied_xfer_ids: list
    applied_xfer_names: list
    applied_steps: list  # (xfer, location) per applied rewrite: replays the episode
    reward: float
    final_runtime_ms: float
    steps: int


def run_greedy_episode(agent, env) -> EpisodeResult:
    """Runs the agent's most likely actions until the episode ends."""
    observation, _ = env.reset()
    applied, names, applied_steps, total, steps = [], [], [], 0.0, 0
    while True:
        actions = agent.act(batch_observations([observation]), greedy=True)
        xfer, location = int(actions["xfers"][0]), int(actions["locations"][0])
        observation, reward, terminated, truncated, info = env.step((xfer, location))
        total += reward
        steps += 1
        if xfer < env.num_xfers and not info["invalid"]:
            applied.append(xfer)
            names.append(info["applied_xfer"])
            applied_steps.append((xfer, location))
        if terminated or truncated:
            return EpisodeResult(env.current_graph, applied, names, applied_steps, total, info["runtime_ms"], steps)


def run_random_episodes(env, episodes: int, seed: int = 0) -> list[EpisodeResult]:
    """The random agent: each step picks uniformly among valid actions and NO-OP."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(episodes):
        observation, _ = env.reset()
        applied, names, applied_steps, total, steps = [], [], [], 0.0, 0
        while True:
            valid = np.argwhere(observation[LOCATION_MASKS])
            pick = rng.integers(len(valid) + 1)
            xfer, location = (int(valid[pick][0]), int(valid[pick][1])) if pick < len(valid) else (env.num_xfers, 0)
            observation, reward, terminated, truncated, info = env.step((xfer, location))
            total += reward
            steps += 1
            if xfer < env.num_xfers:
                applied.append(xfer)
                names.append(info["applied_xfer"])
                applied_steps.append((xfer, location))
            if terminated or truncated:
                results.append(EpisodeResult(env.current_graph, applied, names, applied_steps, total, info["runtime_ms"], steps))
                break
    return results
