"""Real-environment data for the world model: episodes, their collection, the dataset, padding, held-out metrics.

Classes and functions in this file:
  RecordedEpisode: one real episode as the MDN-RNN sees it: the latents and
    masks of its T + 1 states, and its T actions, rewards and done flags.
  RealEpisodeCollector: has an execution (local or Ray) step its
    environments, with the random agent (uniform over the valid (xfer,
    location) pairs and NO-OP, as the random baseline of
    rlgraph_xflow.execution.episodes) or with chosen actions, and turns the
    transitions into finished episodes; episodes in progress carry over to
    the next call, so every sequence the world model sees starts at an
    episode's first state.
  EpisodeDataset: every real episode collected so far (the oldest dropped
    beyond a cap), served as shuffled padded minibatches, with a compact
    array state for checkpoints.
  pad_episodes: episodes -> the padded [B, T, ...] arrays of MDNRNN.loss.
  world_model_metrics: held-out accuracy of the world model's predictions.

The split: the execution knows the environments and hands back
observations (Transition: each step's observation and, for an episode
that ended, the state its last action led to, which the PPO rollout buffer
does not keep); the collector, in the trainer's process, computes every
state's latent z with the agent's encoder.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK, concatenate_graphs
from rlgraph_xflow.execution.local import EpisodeProgress, EpisodeRecord, Transition


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
    progress: Optional[EpisodeProgress] = None                        # best prefix so far, while it runs
    runtime_ms: float = float("nan")                                  # the runtime of its current graph

    def __len__(self) -> int:
        return len(self.xfers)

    def add_state(self, latent, xfer_mask, location_counts) -> None:
        self.latents.append(np.asarray(latent, np.float32))
        self.xfer_masks.append(np.asarray(xfer_mask, bool))
        self.location_counts.append(np.asarray(location_counts, np.int32))

    def outcome_so_far(self) -> EpisodeRecord:
        """The record of the episode up to now (`outcome` once it finished; an unfinished one's best prefix counts too)."""
        if self.outcome is not None:
            return self.outcome
        if self.progress is None:
            raise ValueError("RecordedEpisode.outcome_so_far: the episode was not recorded by a RealEpisodeCollector "
                             "(it has neither an outcome nor a progress record)")
        return self.progress.record(self.runtime_ms)


class RealEpisodeCollector:
    """Real episodes from an execution's environments, acted by the random agent or by chosen actions.

    Args:
        execution: a LocalExecution or RayExecution (its reset, observation,
            num_envs, collect_transitions and collect_random_transitions).
        encode: graph_tuple (B graphs) -> latents [B, D].
        initial_runtime_ms: the runtime of the environments' initial graph
            (where every episode starts; the best prefix of an episode still
            running is measured from it).
        num_xfers: N, the NO-OP id.
    """

    def __init__(self, execution, encode: Callable, initial_runtime_ms: float, num_xfers: int):
        if not hasattr(execution, "collect_transitions"):
            raise ValueError(f"RealEpisodeCollector: expected an execution with collect_transitions "
                             f"(execution type 'local' or 'ray'), got {type(execution).__name__}")
        self.execution = execution
        self.encode = encode
        self.initial_runtime_ms = float(initial_runtime_ms)
        self.num_xfers = num_xfers
        self.num_envs = execution.num_envs
        self.episodes: list = []

    def _states(self, observation) -> tuple:
        latents = np.asarray(self.encode(observation[GRAPH_TUPLE]), np.float32)
        counts = np.asarray(observation[LOCATION_MASKS]).sum(axis=-1).astype(np.int32)
        return latents, np.asarray(observation[XFER_MASK], bool), counts

    def _new_episode(self) -> RecordedEpisode:
        return RecordedEpisode(progress=EpisodeProgress(self.initial_runtime_ms, self.num_xfers), runtime_ms=self.initial_runtime_ms)

    def reset(self) -> None:
        """Starts a new episode in every environment."""
        self.execution.reset()
        self.episodes = [self._new_episode() for _ in range(self.num_envs)]
        latents, masks, counts = self._states(self.execution.observation)
        for index, episode in enumerate(self.episodes):
            episode.add_state(latents[index], masks[index], counts[index])

    def collect_random(self, steps_per_env: int, rng: np.random.Generator) -> list:
        """Steps every environment `steps_per_env` times with the random agent; returns the episodes that finished."""
        if not self.episodes:
            self.reset()
        return self._record(self.execution.collect_random_transitions(steps_per_env, rng))

    def collect_chosen(self, steps_per_env: int, choose_actions: Callable) -> list:
        """Steps every environment `steps_per_env` times with chosen actions (the execution's collect_transitions)."""
        if not self.episodes:
            self.reset()
        return self._record(self.execution.collect_transitions(steps_per_env, choose_actions))

    def _record(self, transitions: Sequence[Transition]) -> list:
        finished = []
        for transition in transitions:
            ended = sorted(transition.final_observations)
            if ended:
                last = [transition.final_observations[index] for index in ended]
                final_states = self._states({GRAPH_TUPLE: concatenate_graphs([single[GRAPH_TUPLE] for single in last]),
                                             XFER_MASK: np.stack([single[XFER_MASK] for single in last]),
                                             LOCATION_MASKS: np.stack([single[LOCATION_MASKS] for single in last])})
            latents, masks, counts = self._states(transition.observation)
            for index, episode in enumerate(self.episodes):
                xfer, location = int(transition.actions[index, 0]), int(transition.actions[index, 1])
                episode.xfers.append(xfer)
                episode.locations.append(location)
                episode.rewards.append(float(transition.rewards[index]))
                episode.dones.append(bool(transition.dones[index]))
                episode.progress.add_step(xfer, location, transition.rewards[index], transition.infos[index])
                episode.runtime_ms = float(transition.infos[index]["runtime_ms"])
                if index in transition.finished:
                    position = ended.index(index)
                    episode.add_state(*(part[position] for part in final_states))
                    episode.outcome = transition.finished[index]
                    finished.append(episode)
                    self.episodes[index] = episode = self._new_episode()
                episode.add_state(latents[index], masks[index], counts[index])
        return finished

    def unfinished(self) -> list:
        """The episodes in progress that have at least one step (valid prefixes of real episodes)."""
        return [episode for episode in self.episodes if len(episode) > 0]


_DATASET_STATE_KEYS = ("lengths", "latents", "xfer_masks", "location_counts", "xfers", "locations", "rewards", "dones")


class EpisodeDataset:
    """Every real episode collected so far, for world-model training on all of them.

    Args:
        max_episodes: keep at most this many episodes, dropping the oldest
            first; None keeps every one.

    Raises:
        ValueError: max_episodes is not None or an int >= 1.
    """

    def __init__(self, max_episodes: Optional[int] = None):
        if max_episodes is not None and (not is_int(max_episodes, allow_numpy=True) or max_episodes < 1):
            raise ValueError(f"EpisodeDataset: max_episodes must be None or an int >= 1, got {max_episodes!r}")
        self.max_episodes = max_episodes
        self.episodes: list = []

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def steps(self) -> int:
        """Real steps held (the sum of the episodes' lengths)."""
        return sum(len(episode) for episode in self.episodes)

    def add(self, episodes: Sequence[RecordedEpisode]) -> None:
        """Appends episodes (each with T >= 1 steps and T + 1 states), then drops the oldest beyond max_episodes."""
        for episode in episodes:
            if len(episode) == 0 or len(episode.latents) != len(episode) + 1:
                raise ValueError(f"EpisodeDataset.add: an episode must have T >= 1 steps and T + 1 states, "
                                 f"got {len(episode)} steps and {len(episode.latents)} states")
        self.episodes.extend(episodes)
        if self.max_episodes is not None and len(self.episodes) > self.max_episodes:
            del self.episodes[:len(self.episodes) - self.max_episodes]

    def minibatches(self, batch_size: int, rng: np.random.Generator) -> Iterator[dict]:
        """One pass: the episodes in a random order (drawn from `rng`), padded `batch_size` at a time."""
        order = rng.permutation(len(self.episodes))
        for start in range(0, len(order), batch_size):
            yield pad_episodes([self.episodes[index] for index in order[start:start + batch_size]])

    def get_state(self) -> dict:
        """name -> array: the episodes' steps and states concatenated, with their lengths (set_state's input)."""
        episodes = self.episodes
        if not episodes:
            return {"lengths": np.zeros(0, np.int32), "latents": np.zeros((0, 0), np.float32),
                    "xfer_masks": np.zeros((0, 0), bool), "location_counts": np.zeros((0, 0), np.int32),
                    "xfers": np.zeros(0, np.int32), "locations": np.zeros(0, np.int32), "rewards": np.zeros(0, np.float64),
                    "dones": np.zeros(0, bool)}
        return {
            "lengths": np.array([len(episode) for episode in episodes], np.int32),
            "latents": np.concatenate([np.stack(episode.latents) for episode in episodes]).astype(np.float32),
            "xfer_masks": np.concatenate([np.stack(episode.xfer_masks) for episode in episodes]).astype(bool),
            "location_counts": np.concatenate([np.stack(episode.location_counts) for episode in episodes]).astype(np.int32),
            "xfers": np.concatenate([episode.xfers for episode in episodes]).astype(np.int32),
            "locations": np.concatenate([episode.locations for episode in episodes]).astype(np.int32),
            "rewards": np.concatenate([episode.rewards for episode in episodes]).astype(np.float64),
            "dones": np.concatenate([episode.dones for episode in episodes]).astype(bool),
        }

    def set_state(self, state: dict) -> None:
        """Replaces the episodes with those get_state saved.

        Raises:
            ValueError: a key is missing or the arrays' lengths do not fit
                together (the message names the key).
        """
        missing = [key for key in _DATASET_STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"EpisodeDataset.set_state: missing {missing}; expected the keys {list(_DATASET_STATE_KEYS)}")
        lengths = np.asarray(state["lengths"], np.int64)
        if lengths.ndim != 1 or (lengths < 1).any():
            raise ValueError(f"EpisodeDataset.set_state: 'lengths' must be a vector of ints >= 1, got {lengths!r:.200}")
        expected = {"latents": int(lengths.sum() + len(lengths)), "xfer_masks": int(lengths.sum() + len(lengths)),
                    "location_counts": int(lengths.sum() + len(lengths)), "xfers": int(lengths.sum()),
                    "locations": int(lengths.sum()), "rewards": int(lengths.sum()), "dones": int(lengths.sum())}
        for key, rows in expected.items():
            if len(state[key]) != rows:
                raise ValueError(f"EpisodeDataset.set_state: {key!r} must have {rows} rows for episodes of lengths "
                                 f"summing to {int(lengths.sum())}, got {len(state[key])}")
        step_ends = np.cumsum(lengths)
        state_ends = np.cumsum(lengths + 1)
        self.episodes = []
        for step_end, state_end, length in zip(step_ends, state_ends, lengths):
            steps, states = slice(step_end - length, step_end), slice(state_end - length - 1, state_end)
            self.episodes.append(RecordedEpisode(
                latents=list(np.asarray(state["latents"][states], np.float32)),
                xfer_masks=list(np.asarray(state["xfer_masks"][states], bool)),
                location_counts=list(np.asarray(state["location_counts"][states], np.int32)),
                xfers=[int(value) for value in state["xfers"][steps]], locations=[int(value) for value in state["locations"][steps]],
                rewards=[float(value) for value in state["rewards"][steps]], dones=[bool(value) for value in state["dones"][steps]]))


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
