"""Real-environment data for the world model: random-agent episodes, padding, held-out metrics.

Classes and functions in this file:
  RecordedEpisode: one real episode as the MDN-RNN sees it: the latents and
    masks of its T + 1 states, and its T actions, rewards and done flags.
  RandomRolloutCollector: has an execution (local or Ray) step its
    environments with the random agent (uniform over the valid (xfer,
    location) pairs and NO-OP, as rlgraph_xflow.evaluation's baseline) and
    turns the transitions into finished episodes; episodes in progress
    carry over to the next call, so every sequence the world model sees
    starts at an episode's first state.
  pad_episodes: episodes -> the padded [B, T, ...] arrays of MDNRNN.loss.
  world_model_metrics: held-out accuracy of the world model's predictions.

The split: the execution knows the environments and hands back
observations (RandomTransition: each step's observation and, for an episode
that ended, the state its last action led to, which the PPO rollout buffer
does not keep); the collector, in the trainer's process, computes every
state's latent z with the agent's encoder.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK, concatenate_graphs
from rlgraph_xflow.execution.local import EpisodeRecord


@dataclasses.dataclass
class RecordedEpisode:
    """One real episode: states 0..T, actions 0..T-1."""

    latents: list = dataclasses.field(default_factory=list)          # T + 1 arrays [D]
    xfer_masks: list = dataclasses.field(default_factory=list)       # T + 1 arrays bool [N + 1]
    location_counts: list = dataclasses.field(default_factory=list)  # T + 1 arrays int [N]
    xfers: list = dataclasses.field(default_factory=list)
    locations: list = dataclasses.field(default_factory=list)
    rewards: list = dataclasses.field(default_factory=list)
    dones: list = dataclasses.field(default_factory=list)
    outcome: Optional[EpisodeRecord] = None                           # the execution's record once it finished

    def __len__(self) -> int:
        return len(self.xfers)

    def add_state(self, latent, xfer_mask, location_counts) -> None:
        self.latents.append(np.asarray(latent, np.float32))
        self.xfer_masks.append(np.asarray(xfer_mask, bool))
        self.location_counts.append(np.asarray(location_counts, np.int32))


class RandomRolloutCollector:
    """Random-agent episodes from an execution's real environments.

    Args:
        execution: a LocalExecution or RayExecution (its reset, observation,
            num_envs and collect_random_transitions).
        encode: graph_tuple (B graphs) -> latents [B, D].
        seed: seed of the random agent.
    """

    def __init__(self, execution, encode: Callable, seed: int = 0):
        if not hasattr(execution, "collect_random_transitions"):
            raise ValueError(f"RandomRolloutCollector: expected an execution with collect_random_transitions "
                             f"(execution type 'local' or 'ray'), got {type(execution).__name__}")
        self.execution = execution
        self.encode = encode
        self.rng = np.random.default_rng(seed)
        self.num_envs = execution.num_envs
        self.episodes: list = []

    def _states(self, observation) -> tuple:
        latents = np.asarray(self.encode(observation[GRAPH_TUPLE]), np.float32)
        counts = np.asarray(observation[LOCATION_MASKS]).sum(axis=-1).astype(np.int32)
        return latents, np.asarray(observation[XFER_MASK], bool), counts

    def reset(self) -> None:
        """Starts a new episode in every environment."""
        self.execution.reset()
        self.episodes = [RecordedEpisode() for _ in range(self.num_envs)]
        latents, masks, counts = self._states(self.execution.observation)
        for index, episode in enumerate(self.episodes):
            episode.add_state(latents[index], masks[index], counts[index])

    def collect(self, steps_per_env: int) -> list:
        """Steps every environment `steps_per_env` times; returns the episodes that finished."""
        if not self.episodes:
            self.reset()
        finished = []
        for transition in self.execution.collect_random_transitions(steps_per_env, self.rng):
            ended = sorted(transition.final_observations)
            if ended:
                last = [transition.final_observations[index] for index in ended]
                final_states = self._states({GRAPH_TUPLE: concatenate_graphs([single[GRAPH_TUPLE] for single in last]),
                                             XFER_MASK: np.stack([single[XFER_MASK] for single in last]),
                                             LOCATION_MASKS: np.stack([single[LOCATION_MASKS] for single in last])})
            latents, masks, counts = self._states(transition.observation)
            for index, episode in enumerate(self.episodes):
                episode.xfers.append(int(transition.actions[index, 0]))
                episode.locations.append(int(transition.actions[index, 1]))
                episode.rewards.append(float(transition.rewards[index]))
                episode.dones.append(bool(transition.dones[index]))
                if index in transition.finished:
                    position = ended.index(index)
                    episode.add_state(*(part[position] for part in final_states))
                    episode.outcome = transition.finished[index]
                    finished.append(episode)
                    self.episodes[index] = episode = RecordedEpisode()
                episode.add_state(latents[index], masks[index], counts[index])
        return finished

    def unfinished(self) -> list:
        """The episodes in progress that have at least one step (valid prefixes of real episodes)."""
        return [episode for episode in self.episodes if len(episode) > 0]


def pad_episodes(episodes: Sequence[RecordedEpisode]) -> dict:
    """The padded arrays MDNRNN.loss takes ([B, T, ...], T the longest episode; padding repeats zeros).

    Raises:
        ValueError: for no episodes or an episode without steps.
    """
    if not episodes:
        raise ValueError("pad_episodes: expected at least one episode, got none")
    for index, episode in enumerate(episodes):
        if len(episode) == 0 or len(episode.latents) != len(episode) + 1:
            raise ValueError(f"pad_episodes: episode {index} must have T >= 1 steps and T + 1 states, "
                             f"got {len(episode)} steps and {len(episode.latents)} states")
    batch, steps = len(episodes), max(len(episode) for episode in episodes)
    latent_size = episodes[0].latents[0].shape[0]
    mask_width = episodes[0].xfer_masks[0].shape[0]
    arrays = {
        "z": np.zeros((batch, steps, latent_size), np.float32), "next_z": np.zeros((batch, steps, latent_size), np.float32),
        "xfers": np.zeros((batch, steps), np.int32), "locations": np.zeros((batch, steps), np.int32),
        "rewards": np.zeros((batch, steps), np.float32), "dones": np.zeros((batch, steps), bool),
        "next_xfer_mask": np.zeros((batch, steps, mask_width), bool),
        "next_location_counts": np.zeros((batch, steps, mask_width - 1), np.int32),
        "lengths": np.array([len(episode) for episode in episodes], np.int32),
    }
    arrays["next_xfer_mask"][..., -1] = True
    for row, episode in enumerate(episodes):
        length = len(episode)
        latents = np.stack(episode.latents)
        arrays["z"][row, :length] = latents[:-1]
        arrays["next_z"][row, :length] = latents[1:]
        arrays["xfers"][row, :length] = episode.xfers
        arrays["locations"][row, :length] = episode.locations
        arrays["rewards"][row, :length] = episode.rewards
        arrays["dones"][row, :length] = episode.dones
        arrays["next_xfer_mask"][row, :length] = np.stack(episode.xfer_masks[1:])
        arrays["next_location_counts"][row, :length] = np.stack(episode.location_counts[1:])
    return arrays


def world_model_metrics(batch: dict, predictions: dict, z_nll: float, max_locations: int, done_threshold: float = 0.5) -> dict:
    """Accuracy of one-step predictions on (held-out) real episodes, over valid steps only.

    Args:
        batch: pad_episodes' arrays.
        predictions: MDNRNN.predict's outputs on batch's z, xfers, locations.
        z_nll: the mixture's mean negative log-likelihood of next_z.
        max_locations: L.
        done_threshold: a predicted done probability above this counts as done.

    Returns:
        z_nll; reward_mae; done_accuracy; xfer_mask_accuracy (per xfer,
        NO-OP excluded); location_mask_accuracy (per (xfer, location) bit of
        the mask implied by the predicted validity and counts, as a dream
        step builds it); mask_accuracy (fraction of steps whose whole
        predicted location mask is exactly right); held_out_steps.
    """
    lengths = batch["lengths"]
    valid = np.arange(batch["rewards"].shape[1])[None, :] < lengths[:, None]
    num_xfers = batch["next_location_counts"].shape[-1]
    predicted_valid = predictions["xfer_validity_logits"][..., :num_xfers] > 0.0
    true_valid = batch["next_xfer_mask"][..., :num_xfers]
    fractions = 1.0 / (1.0 + np.exp(-predictions["location_count_logits"]))
    predicted_counts = np.where(predicted_valid, np.clip(np.round(fractions * max_locations), 1, max_locations), 0)
    true_counts = batch["next_location_counts"]
    # Bits right per xfer without materialising [B, T, N, L]: two prefixes
    # differ exactly on the |count difference| locations between them.
    wrong_bits = np.abs(predicted_counts - true_counts)
    done_probability = 1.0 / (1.0 + np.exp(-predictions["done_logits"]))
    return {
        "z_nll": float(z_nll),
        "reward_mae": float(np.abs(predictions["reward"] - batch["rewards"])[valid].mean()),
        "done_accuracy": float(((done_probability > done_threshold) == batch["dones"])[valid].mean()),
        "xfer_mask_accuracy": float((predicted_valid == true_valid)[valid].mean()),
        "location_mask_accuracy": float(1.0 - wrong_bits[valid].sum() / (valid.sum() * num_xfers * max_locations)),
        "mask_accuracy": float((wrong_bits == 0).all(axis=-1)[valid].mean()),
        "held_out_steps": int(valid.sum()),
    }
