"""Episodes in the real environment: an agent's (greedy or sampled), the random agent's, and replays.

Below agents and runs, so trainers (self-imitation replays the best training
prefix) and runs (the evaluation after training, the export choice) share them.

Functions in this file:
  EpisodeResult: an episode's final graph, the rewrites it applied (xfer
    ids, names and (xfer, location) steps), its reward and final runtime.
  run_greedy_episode: one episode of an agent's greedy policy.
  cheapest_prefix: the cheapest graph an episode passed through (replayed
    when it is not the last one).
  run_sampled_episodes: episodes of an agent's stochastic policy (actions
    sampled, as in training), several environments stepped together.
  run_random_episodes: the random-agent baseline: uniformly random valid
    (xfer, location) pairs, NO-OP included, seeded (the random agent of
    rlgraph_xflow.execution.local.random_valid_actions).
  replay_steps: rebuilds a recorded graph by stepping a fresh episode
    through its exact (xfer, location) rewrites, and checks that it reaches
    the recorded runtime.
  ReplayMismatch: the replay did not reach the recorded graph.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.env.observation import LOCATION_MASKS, batch_observations
from rlgraph_xflow.execution.local import EpisodeProgress, EpisodeRecord, random_valid_actions

# Relative tolerance between a replayed runtime and the recorded one. The
# cost model is deterministic, so a replay in an environment like the one
# that recorded the steps reaches the same float; the tolerance only absorbs
# a different summation order, never a different graph.
REPLAY_RELATIVE_TOLERANCE = 1e-9


@dataclasses.dataclass
class EpisodeResult:
    final_graph: object  # XflowGraph
    applied_xfer_ids: list
    applied_xfer_names: list
    applied_steps: list  # (xfer, location) per applied rewrite: replays the episode
    reward: float
    final_runtime_ms: float
    steps: int
    # Kept by replay_steps(keep_observations=True) only: the observation
    # before each step and the reward each step got.
    observations: list = dataclasses.field(default_factory=list)
    rewards: list = dataclasses.field(default_factory=list)
    # Kept by run_greedy_episode: the runtime of the initial graph, then
    # after each applied rewrite (what cheapest_prefix chooses from).
    prefix_runtimes_ms: list = dataclasses.field(default_factory=list)


def run_greedy_episode(agent, env) -> EpisodeResult:
    """Runs the agent's most likely actions until the episode ends."""
    observation, info = env.reset()
    applied, names, applied_steps, total, steps = [], [], [], 0.0, 0
    runtimes = [float(info["runtime_ms"])]
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
            runtimes.append(float(info["runtime_ms"]))
        if terminated or truncated:
            return EpisodeResult(env.current_graph, applied, names, applied_steps, total, info["runtime_ms"], steps,
                                 prefix_runtimes_ms=runtimes)


def cheapest_prefix(env, episode: EpisodeResult) -> EpisodeResult:
    """The cheapest graph `episode` passed through, as an episode of its own.

    Args:
        env: an XflowEnv like the one that ran the episode (used to replay).
        episode: an EpisodeResult from run_greedy_episode.

    Returns:
        `episode` itself when its last graph is the cheapest (on a tie the
        last one), else the replay of its shortest cheapest prefix.

    Raises:
        ValueError: the episode has no prefix_runtimes_ms.
        ReplayMismatch: see replay_steps.
    """
    runtimes = episode.prefix_runtimes_ms
    if len(runtimes) != len(episode.applied_steps) + 1:
        raise ValueError(f"cheapest_prefix: expected {len(episode.applied_steps) + 1} prefix runtimes (the initial "
                         f"graph's and one per applied rewrite), got {len(runtimes)}")
    length = int(np.argmin(runtimes))
    if runtimes[length] >= episode.final_runtime_ms:
        return episode
    return replay_steps(env, episode.applied_steps[:length], runtimes[length])


def run_sampled_episodes(agent, envs: Sequence, episodes: int) -> list[EpisodeRecord]:
    """Runs `episodes` episodes of the agent's sampled actions.

    Why sample: a deterministic policy that meets a graph again repeats what
    it did there, so a greedy episode caught between two cost-neutral
    rewrites (one undoing the other) spends its remaining steps on them; the
    stochastic policy training learned leaves such a cycle and finishes
    chains that its argmax misses.

    Args:
        agent: acts on batched observations (Agent.act, greedy=False); its
            random stream decides the samples, so a seeded agent gives the
            same episodes again.
        envs: environments like the training ones, stepped together (one
            batched act per step, one row per environment); each runs
            episodes until `episodes` have started.
        episodes: how many episodes, >= 1.

    Returns:
        An EpisodeRecord per episode in the order they finished (ties in
        the same step: in environment order); each knows its best prefix.

    Raises:
        ValueError: no environments, or episodes < 1.
    """
    if not is_int(episodes, allow_numpy=True) or episodes < 1:
        raise ValueError(f"run_sampled_episodes: episodes must be an int >= 1, got {episodes!r}")
    if not envs:
        raise ValueError("run_sampled_episodes: needs at least one environment")
    # Rows keep their environment for the whole call, so an agent with a
    # memory per row (the world model's LSTM) sees each episode in one row; a
    # row with no episode left to start repeats its last observation, and
    # its actions are ignored, until every row is done.
    rows = list(envs[:episodes])
    observations, progress = [], []
    for env in rows:
        observation, info = env.reset()
        observations.append(observation)
        progress.append(EpisodeProgress(info["runtime_ms"], env.num_xfers))
    started, records = len(rows), []
    while any(episode is not None for episode in progress):
        actions = agent.act(batch_observations(observations))
        for index, env in enumerate(rows):
            episode = progress[index]
            if episode is None:
                continue
            xfer, location = int(actions["xfers"][index]), int(actions["locations"][index])
            observation, reward, terminated, truncated, info = env.step((xfer, location))
            episode.add_step(xfer, location, reward, info)
            if terminated or truncated:
                records.append(episode.record(info["runtime_ms"]))
                episode = None
                if started < episodes:
                    observation, info = env.reset()
                    episode = EpisodeProgress(info["runtime_ms"], env.num_xfers)
                    started += 1
            observations[index], progress[index] = observation, episode
    return records


def run_random_episodes(env, episodes: int, seed: int = 0) -> list[EpisodeResult]:
    """The random agent: each step picks uniformly among valid actions and NO-OP."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(episodes):
        observation, _ = env.reset()
        applied, names, applied_steps, total, steps = [], [], [], 0.0, 0
        while True:
            xfer, location = (int(value) for value in random_valid_actions(observation[LOCATION_MASKS][None], rng, env.num_xfers)[0])
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


class ReplayMismatch(RuntimeError):
    """Replaying recorded rewrites did not rebuild the recorded graph: the environment is not deterministic."""


def replay_steps(env, steps: Sequence[tuple[int, int]], expected_runtime_ms: float,
                 relative_tolerance: float = REPLAY_RELATIVE_TOLERANCE, keep_observations: bool = False) -> EpisodeResult:
    """Rebuilds a graph by stepping a fresh episode of `env` through recorded rewrites.

    Args:
        env: an XflowEnv like the one that recorded the steps (same graph,
            rules, location cap and cost model).
        steps: (xfer, location) rewrites from the initial graph, each one a
            valid rewrite when it was recorded (no NO-OP, no invalid action).
        expected_runtime_ms: the runtime recorded after the last step (the
            initial graph's when `steps` is empty).
        relative_tolerance: how far the replayed runtime may be from it.
        keep_observations: also keep the observation before each step and
            each step's reward (what self-imitation learns from).

    Returns:
        The replayed episode (its final graph, applied xfers and steps).

    Raises:
        ValueError: a step is not an (xfer, location) pair of ints, or is NO-OP.
        ReplayMismatch: a step is invalid on the replayed graph, the episode
            ends before the last step, or the replay ends at another runtime.
    """
    checked = []
    for position, step in enumerate(steps):
        try:
            xfer, location = step
        except (TypeError, ValueError):
            raise ValueError(f"replay_steps: steps[{position}] must be an (xfer, location) pair, got {step!r}") from None
        if not all(is_int(item, allow_numpy=True) for item in (xfer, location)):
            raise ValueError(f"replay_steps: steps[{position}] must hold two ints, got {step!r}")
        if int(xfer) == env.num_xfers:
            raise ValueError(f"replay_steps: steps[{position}] is NO-OP (xfer {env.num_xfers}); only applied rewrites are replayed")
        checked.append((int(xfer), int(location)))
    observation, info = env.reset()
    applied, names, total, ended = [], [], 0.0, False
    observations, rewards = [], []
    for position, (xfer, location) in enumerate(checked):
        if ended:
            raise ReplayMismatch(f"replay_steps: the replayed episode ended after step {position} of {len(checked)}; "
                                 "the recorded episode went on, so the environment is not deterministic "
                                 "(or not configured like the one that recorded the steps)")
        if keep_observations:
            observations.append(observation)
        observation, reward, terminated, truncated, info = env.step((xfer, location))
        if keep_observations:
            rewards.append(float(reward))
        if info["invalid"]:
            raise ReplayMismatch(f"replay_steps: step {position} ({xfer}, {location}) is invalid on the replayed graph, but it "
                                 "was applied when recorded; the environment is not deterministic (or not configured like "
                                 "the one that recorded the steps)")
        total += reward
        applied.append(xfer)
        names.append(info["applied_xfer"])
        ended = terminated or truncated
    runtime = float(info["runtime_ms"])
    if not math.isclose(runtime, expected_runtime_ms, rel_tol=relative_tolerance, abs_tol=0.0):
        raise ReplayMismatch(f"replay_steps: replaying {len(checked)} recorded rewrites reached {runtime!r} ms, but "
                             f"{expected_runtime_ms!r} ms was recorded (relative tolerance {relative_tolerance:g}); the "
                             "environment is not deterministic (or not configured like the one that recorded the steps)")
    return EpisodeResult(env.current_graph, applied, names, list(checked), total, runtime, len(checked),
                         observations, rewards)
