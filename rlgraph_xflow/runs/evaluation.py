"""The evaluation of a trained agent in the real environment: an agent run's second step.

Classes and functions in this file:
  Evaluation: what it found: the initial graph's cost, the greedy policy's
    graph, the best prefix of the sampled policy's episodes, how long
    sampling took, and the random agent's final costs.
  evaluate: runs the greedy policy (`evaluation_episodes` episodes; its
    graph is the cheapest graph any of them passed through), with
    `sampled_evaluation_episodes` K > 0 K episodes of the trained policy's
    sampled actions, and `random_baseline_episodes` episodes of the random
    agent, all in one environment without exploration bonus (plus, for
    sampling, as many more as training stepped together).

The episodes themselves are rlgraph_xflow.execution.episodes'.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

from rlgraph_xflow.execution.episodes import (EpisodeResult, cheapest_prefix, run_greedy_episode, run_random_episodes,
                                              run_sampled_episodes)
from rlgraph_xflow.execution.training import BestTrainingPrefix, keep_best_prefix


@dataclasses.dataclass
class Evaluation:
    """An agent's evaluation in the real environment.

    Attributes:
        initial_cost_ms: the initial graph's estimated runtime.
        greedy: the greedy policy's graph, as an EpisodeResult: the cheapest
            graph its episodes passed through.
        best_sampled: the cheapest prefix of the sampled policy's episodes
            (None without sampled episodes, or when none applied a rewrite).
        sampled_episodes: how many sampled episodes ran.
        sampling_seconds: how long they took.
        random_costs: the random agent's final cost per episode.
    """

    initial_cost_ms: float
    greedy: EpisodeResult
    best_sampled: Optional[BestTrainingPrefix]
    sampled_episodes: int
    sampling_seconds: float
    random_costs: list

    @property
    def random_cost_ms(self) -> Optional[float]:
        """The random agent's mean final cost (None without random episodes)."""
        return sum(self.random_costs) / len(self.random_costs) if self.random_costs else None


def evaluate(agent, execution, env, training: dict, seed: int) -> Evaluation:
    """Evaluates the trained agent in `env`.

    Args:
        agent: the trained agent (act(observations, greedy)).
        execution: the run's execution; it makes the extra environments the
            sampled episodes step together with `env`.
        env: an XflowEnv like the training environments, without exploration
            bonus (evaluation is scored by cost alone).
        training: the run's checked `training:` settings (evaluation_episodes,
            sampled_evaluation_episodes, random_baseline_episodes).
        seed: the random agent's seed.

    Returns:
        The Evaluation.
    """
    initial_cost = env.reset()[1]["runtime_ms"]
    greedy = None
    for _ in range(training["evaluation_episodes"]):
        episode = cheapest_prefix(env, run_greedy_episode(agent, env))
        if greedy is None or episode.final_runtime_ms < greedy.final_runtime_ms:
            greedy = episode
    sampled_episodes = training["sampled_evaluation_episodes"]
    best_sampled = None
    started = time.perf_counter()
    if sampled_episodes:
        # As many environments as training stepped together, so one batched act serves them all.
        envs = [env] + [execution.make_env(novelty_bonus=0.0) for _ in range(min(sampled_episodes, execution.num_envs) - 1)]
        best_sampled = keep_best_prefix(None, run_sampled_episodes(agent, envs, sampled_episodes))
    sampling_seconds = time.perf_counter() - started
    random_episodes = run_random_episodes(env, training["random_baseline_episodes"], seed=seed)
    return Evaluation(initial_cost, greedy, best_sampled, sampled_episodes, sampling_seconds,
                      [episode.final_runtime_ms for episode in random_episodes])
