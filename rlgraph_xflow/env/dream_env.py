"""DreamEnv: B graph-optimisation episodes simulated by a learned world model.

Classes and constants in this file:
  DreamEnv: the batched reset/step interface of BatchedXflowEnv, driven by a
    world model (an MDN-RNN) instead of the substitution engine
    (dissertation 3.4, World Models' "dream", Ha and Schmidhuber 2018).
  DreamObservation: a batched dream observation, a read-only mapping whose
    LOCATION_MASKS are derived from LOCATION_COUNTS when first read.
  LATENT, HIDDEN_STATE, CELL_STATE, XFER_MASK, LOCATION_MASKS,
    LOCATION_COUNTS: the fields of a dream observation.
  WorldModelStep: the protocol of the world model a DreamEnv steps.
  location_masks_from_counts: prefix masks [..., N, L] from counts [..., N].

A dream state is what the MDN-RNN knows: the graph latent z (D), the LSTM
state (h, c) after every earlier (z, action) of the episode, the predicted
xfer mask (N + 1) and the predicted per-xfer location counts (N; location j
of xfer i is valid iff j < count_i, so LOCATION_MASKS is derived from
them). An episode starts from the real initial graph's z, a zero LSTM state
and the real initial masks, all given to the constructor.

Episode rules mirror XflowEnv's:
  * NO-OP (xfer N) ends the episode (terminated), reward 0, state unchanged;
  * an action the current (predicted) masks rule out is rewarded
    `invalid_reward`, changes nothing, and sets info["invalid"];
  * any other action advances the world model: z and the masks become its
    sample (z with temperature tau, see MDNRNN), the reward is its
    predicted reward, and the episode terminates when its done probability
    exceeds `done_threshold` or no xfer is valid any more;
  * the episode is truncated after `max_steps` steps.
Rows whose episode ended are reset at once (as BatchedXflowEnv does); info
carries the ended rows' last observation.

Observations map the DREAM_FIELDS to numpy arrays with a leading batch
dimension B. Everything is vectorised over the batch: the world model is
called once per step for all rows, which is what makes a dream step cheap.
Two more habits keep the bookkeeping around that call small next to the
model itself:
  * observation arrays are read-only views of the environment's state (no
    copies per step; the state is replaced, never written in place, so a view
    stays what it was when returned); copy one before writing into it;
  * LOCATION_MASKS [B, N, L], B x N x L bytes and so by far the largest
    field, carries nothing LOCATION_COUNTS does not: a DreamObservation
    builds it from the counts only when it is read (gathered from a table of
    the L + 1 possible prefix masks), and the world-model agent's controller
    reads the counts. At B = 256 building it twice a step (observation and
    final observation) took longer than the rest of the bookkeeping.
"""
from __future__ import annotations

import collections.abc
import functools
from typing import Protocol

import gymnasium
import numpy as np

from rlgraph_xflow.core.validation import is_int

LATENT = "z"
HIDDEN_STATE = "hidden_state"
CELL_STATE = "cell_state"
XFER_MASK = "xfer_mask"
LOCATION_MASKS = "location_masks"
LOCATION_COUNTS = "location_counts"
DREAM_FIELDS = (LATENT, HIDDEN_STATE, CELL_STATE, XFER_MASK, LOCATION_MASKS, LOCATION_COUNTS)


class WorldModelStep(Protocol):
    """What a DreamEnv needs from a world model (MDNRNN.sample_next's contract)."""

    def dream_step(self, z: np.ndarray, xfers: np.ndarray, locations: np.ndarray, hidden_state: np.ndarray,
                   cell_state: np.ndarray) -> dict:
        """One step for B rows: next_z [B, D], reward [B], done_probability [B],
        xfer_mask bool [B, N + 1], location_counts int [B, N], hidden_state
        and cell_state [B, units]."""


@functools.lru_cache(maxsize=16)
def _prefix_mask_table(max_locations: int) -> np.ndarray:
    """Read-only [L + 1, L]: row c is the prefix mask of count c."""
    table = np.arange(max_locations) < np.arange(max_locations + 1)[:, None]
    table.flags.writeable = False
    return table


def location_masks_from_counts(counts: np.ndarray, max_locations: int) -> np.ndarray:
    """Prefix masks [..., N, L] from counts [..., N]: location j is valid iff j < count.

    A count below 0 gives an empty mask and one above L a full one (counts are
    clipped to [0, L] before the table lookup).
    """
    counts = np.clip(np.asarray(counts), 0, max_locations)
    return np.take(_prefix_mask_table(int(max_locations)), counts, axis=0)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class DreamObservation(collections.abc.Mapping):
    """B dream observations: DREAM_FIELDS -> read-only [B, ...] arrays.

    LOCATION_MASKS is built from LOCATION_COUNTS on its first read and kept.

    Args:
        state: every field but LOCATION_MASKS -> array (not copied; viewed
            read-only).
        max_locations: L, the masks' last dimension.
    """

    def __init__(self, state: dict, max_locations: int):
        self._arrays = {key: _read_only(state[key]) for key in DREAM_FIELDS if key != LOCATION_MASKS}
        self._max_locations = max_locations

    def __getitem__(self, key: str) -> np.ndarray:
        if key == LOCATION_MASKS and key not in self._arrays:
            self._arrays[key] = _read_only(location_masks_from_counts(self._arrays[LOCATION_COUNTS], self._max_locations))
        return self._arrays[key]

    def __iter__(self):
        return iter(DREAM_FIELDS)

    def __len__(self) -> int:
        return len(DREAM_FIELDS)

    def __repr__(self) -> str:
        return f"DreamObservation(B={len(self._arrays[LATENT])}, fields={list(DREAM_FIELDS)})"


class DreamEnv:
    """B dream episodes stepped together.

    Args:
        world_model: an object with `dream_step` (see WorldModelStep).
        initial_z: [D] the initial graph's latent.
        initial_xfer_mask: bool [N + 1] the initial graph's xfer mask.
        initial_location_counts: int [N] the initial graph's location counts.
        num_envs: B, episodes stepped together.
        max_locations: L, the location cap (as in the real environment).
        lstm_units: the width of the world model's LSTM state.
        max_steps: steps after which an episode is truncated.
        invalid_reward: reward of an action the predicted masks rule out.
        done_threshold: a step terminates when the predicted done
            probability exceeds this.

    Raises:
        ValueError: for arguments of the wrong shape, type or range (the
            message names the argument).
    """

    def __init__(self, world_model: WorldModelStep, initial_z, initial_xfer_mask, initial_location_counts, num_envs: int,
                 max_locations: int, lstm_units: int, max_steps: int = 100, invalid_reward: float = -100.0,
                 done_threshold: float = 0.5):
        if not callable(getattr(world_model, "dream_step", None)):
            raise ValueError(f"DreamEnv: world_model must have a dream_step method (see WorldModelStep), got {type(world_model).__name__}")
        for name, value in (("num_envs", num_envs), ("max_locations", max_locations), ("lstm_units", lstm_units),
                            ("max_steps", max_steps)):
            if not is_int(value, allow_numpy=True) or value < 1:
                raise ValueError(f"DreamEnv: {name} must be an int >= 1, got {value!r}")
        if not 0.0 <= float(done_threshold) <= 1.0:
            raise ValueError(f"DreamEnv: done_threshold must be in [0, 1], got {done_threshold!r}")
        self.initial_z = np.asarray(initial_z, np.float32)
        self.initial_xfer_mask = np.asarray(initial_xfer_mask, bool)
        self.initial_location_counts = np.asarray(initial_location_counts, np.int32)
        if self.initial_z.ndim != 1:
            raise ValueError(f"DreamEnv: initial_z must be a vector [D], got shape {self.initial_z.shape}")
        if self.initial_xfer_mask.ndim != 1 or self.initial_xfer_mask.shape[0] < 2:
            raise ValueError(f"DreamEnv: initial_xfer_mask must be a vector [N + 1] with N >= 1, got shape {self.initial_xfer_mask.shape}")
        self.num_xfers = self.initial_xfer_mask.shape[0] - 1
        if self.initial_location_counts.shape != (self.num_xfers,):
            raise ValueError(f"DreamEnv: initial_location_counts must have shape ({self.num_xfers},) (N, as initial_xfer_mask "
                             f"[N + 1]), got {self.initial_location_counts.shape}")
        if (self.initial_location_counts < 0).any() or (self.initial_location_counts > max_locations).any():
            raise ValueError(f"DreamEnv: initial_location_counts must be in [0, {max_locations}] (max_locations), "
                             f"got values in [{self.initial_location_counts.min()}, {self.initial_location_counts.max()}]")
        self.world_model = world_model
        self.num_envs, self.max_locations, self.lstm_units = int(num_envs), int(max_locations), int(lstm_units)
        self.max_steps = int(max_steps)
        self.invalid_reward = float(invalid_reward)
        self.done_threshold = float(done_threshold)
        latent_size = self.initial_z.shape[0]
        box = gymnasium.spaces.Box
        self.observation_space = gymnasium.spaces.Dict({
            LATENT: box(-np.inf, np.inf, (latent_size,), np.float32),
            HIDDEN_STATE: box(-1.0, 1.0, (self.lstm_units,), np.float32),
            CELL_STATE: box(-np.inf, np.inf, (self.lstm_units,), np.float32),
            XFER_MASK: box(0, 1, (self.num_xfers + 1,), np.bool_),
            LOCATION_MASKS: box(0, 1, (self.num_xfers, self.max_locations), np.bool_),
            LOCATION_COUNTS: box(0, self.max_locations, (self.num_xfers,), np.int32),
        })
        self.action_space = gymnasium.spaces.MultiDiscrete([self.num_xfers + 1, self.max_locations])
        self.state = None
        self.steps = np.zeros(self.num_envs, np.int64)
        self._rows = np.arange(self.num_envs)
        # One row of each state field, broadcast over the rows that restart.
        self._initial_row = self._initial_rows(1)

    # State ---------------------------------------------------------------------
    def _initial_rows(self, count: int) -> dict:
        return {
            LATENT: np.broadcast_to(self.initial_z, (count, self.initial_z.shape[0])).copy(),
            HIDDEN_STATE: np.zeros((count, self.lstm_units), np.float32),
            CELL_STATE: np.zeros((count, self.lstm_units), np.float32),
            XFER_MASK: np.broadcast_to(self.initial_xfer_mask, (count, self.num_xfers + 1)).copy(),
            LOCATION_COUNTS: np.broadcast_to(self.initial_location_counts, (count, self.num_xfers)).copy(),
        }

    def observation(self) -> DreamObservation:
        """The current batched observation (read-only views; LOCATION_MASKS derived from the counts when read)."""
        if self.state is None:
            raise RuntimeError("DreamEnv.observation called before reset()")
        return DreamObservation(self.state, self.max_locations)

    def get_state(self) -> dict:
        """name -> array: everything set_state needs to continue these episodes."""
        if self.state is None:
            raise RuntimeError("DreamEnv.get_state called before reset()")
        return {**{key: value.copy() for key, value in self.state.items()}, "steps": self.steps.copy()}

    def set_state(self, state: dict) -> DreamObservation:
        """Continues episodes saved by get_state; returns the observation."""
        expected = {key: value.shape for key, value in self._initial_rows(self.num_envs).items()}
        expected["steps"] = (self.num_envs,)
        for key, shape in expected.items():
            if key not in state or np.shape(state[key]) != shape:
                found = np.shape(state[key]) if key in state else "missing"
                raise ValueError(f"DreamEnv.set_state: {key!r} must have shape {shape}, got {found}")
        self.state = {key: np.array(state[key], dtype=value.dtype) for key, value in self._initial_rows(self.num_envs).items()}
        self.steps = np.array(state["steps"], np.int64)
        return self.observation()

    # The batched gymnasium API ---------------------------------------------------
    def reset(self, seed=None):
        """Starts B episodes from the initial graph; returns (observation, info)."""
        self.state = self._initial_rows(self.num_envs)
        self.steps = np.zeros(self.num_envs, np.int64)
        return self.observation(), {}

    def step(self, actions):
        """Steps every row.

        Args:
            actions: [B, 2] integers, one (xfer_id, location) per row.

        Returns:
            (observation, rewards float32 [B], terminated bool [B], truncated
            bool [B], info): info["invalid"] bool [B]; info["final_observation"]
            the ended rows' last observation (a DreamObservation of [B, ...]
            arrays; rows that did not end hold their current observation).
            Observations are DreamObservations: read-only mappings (see the
            module docstring).

        Raises:
            RuntimeError: before reset().
            ValueError: for actions of the wrong shape, type or range.
        """
        if self.state is None:
            raise RuntimeError("DreamEnv.step called before reset()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, 2) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"DreamEnv.step: actions must be integers of shape ({self.num_envs}, 2), got {actions.dtype} {actions.shape}")
        xfers, locations = actions[:, 0], actions[:, 1]
        if xfers.min() < 0 or xfers.max() > self.num_xfers:
            raise ValueError(f"DreamEnv.step: xfer ids must be in [0, {self.num_xfers}] ({self.num_xfers} is NO-OP), got {xfers.tolist()}")
        if locations.min() < 0 or locations.max() >= self.max_locations:
            raise ValueError(f"DreamEnv.step: locations must be in [0, {self.max_locations}), got {locations.tolist()}")
        xfers, locations = xfers.astype(np.int32), locations.astype(np.int32)
        state = self.state
        rows = self._rows
        no_op = xfers == self.num_xfers
        applicable = ~no_op
        chosen_counts = state[LOCATION_COUNTS][rows, np.minimum(xfers, self.num_xfers - 1)]
        valid = applicable & state[XFER_MASK][rows, xfers] & (locations < chosen_counts)
        invalid = applicable & ~valid
        predicted = self.world_model.dream_step(state[LATENT], xfers, locations, state[HIDDEN_STATE], state[CELL_STATE])
        # New arrays, never writes into the old state: the views handed out
        # with the last observation keep their values. Copying whole arrays
        # and then assigning the few differing rows is about ten times faster
        # than np.where with a row mask.
        stay = ~valid
        after = {}
        for key, source in ((LATENT, "next_z"), (HIDDEN_STATE, "hidden_state"), (CELL_STATE, "cell_state"),
                            (XFER_MASK, "xfer_mask"), (LOCATION_COUNTS, "location_counts")):
            after[key] = np.array(predicted[source], dtype=state[key].dtype)
            after[key][stay] = state[key][stay]
        rewards = np.where(valid, predicted["reward"], np.where(invalid, self.invalid_reward, 0.0)).astype(np.float32)
        self.steps += 1
        nothing_left = ~after[XFER_MASK][:, :self.num_xfers].any(axis=1)
        predicted_done = valid & (np.asarray(predicted["done_probability"]) > self.done_threshold)
        terminated = no_op | predicted_done | nothing_left
        truncated = ~terminated & (self.steps >= self.max_steps)
        ended = terminated | truncated
        final_observation = DreamObservation(after, self.max_locations)
        if ended.any():
            self.state = {key: value.copy() for key, value in after.items()}
            for key, value in self.state.items():
                value[ended] = self._initial_row[key]
            self.steps[ended] = 0
            observation = DreamObservation(self.state, self.max_locations)
        else:
            self.state = after
            observation = final_observation
        return observation, rewards, terminated, truncated, {"invalid": invalid, "final_observation": final_observation}
