"""RolloutBuffer: on-policy experience for PPO, between an execution's collection and the agent's update.

Classes in this file:
  RolloutBuffer: stores per-step observations, actions, rewards, dones,
    values and log-probabilities of `num_envs` parallel environments, gives
    the [num_envs, T] series GAE needs, and yields shuffled minibatches.

Why not a registered Component with TF-variable storage (RLgraph's ring
buffer): a computation graph's observation changes size every step (nodes and
edges come and go as xfers apply), while a TF variable has one fixed shape.
Padding every graph to a global maximum would waste memory and put padding
nodes into the message passing. Rollouts are small (a PPO update uses a few
thousand steps at most), so a numpy store that batches graphs only when a
minibatch is drawn costs little and keeps every step exact.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from rlgraph_xflow.core.spaces import GRAPH_FIELDS
from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.env import observation as observation_fields
from rlgraph_xflow.env.observation import concatenate_graphs

_STEP_FIELDS = ("xfers", "locations", "rewards", "dones", "values", "log_probs")


class RolloutBuffer:
    """On-policy storage of `num_envs` parallel step streams.

    Args:
        num_envs: environments stepped together; `add` takes one value each.
        steps_per_env: capacity T of each stream.
        seed: seed of the minibatch shuffling.

    Example:
        >>> buffer = RolloutBuffer(num_envs=1, steps_per_env=128)
        >>> buffer.add([observation], xfers=[3], locations=[0], rewards=[0.1], dones=[False],
        ...            values=[0.5], log_probs=[-2.3])
        >>> series = buffer.time_series()          # rewards, values, dones: [num_envs, T]
        >>> buffer.set_advantages(advantages, returns)
        >>> for batch in buffer.minibatches(64): ...
    """

    def __init__(self, num_envs: int, steps_per_env: int, seed: int = 0):
        for name, value in (("num_envs", num_envs), ("steps_per_env", steps_per_env)):
            if not is_int(value, allow_numpy=True) or value < 1:
                raise ValueError(f"RolloutBuffer {name} must be a positive int, got {value!r}")
        self.num_envs, self.steps_per_env = int(num_envs), int(steps_per_env)
        self.rng = np.random.default_rng(seed)
        self.observation_shapes: Optional[dict] = None
        self.clear()

    def clear(self) -> None:
        """Forgets every stored step (call after each PPO update)."""
        self.observations: list = []   # [t][env] observation dict
        self.steps = {field: [] for field in _STEP_FIELDS}
        self.advantages: Optional[np.ndarray] = None
        self.returns: Optional[np.ndarray] = None

    def __len__(self) -> int:
        """Steps stored per environment."""
        return len(self.observations)

    @property
    def is_full(self) -> bool:
        return len(self) == self.steps_per_env

    # Writing -----------------------------------------------------------------
    def _checked_observation(self, observation, env: int) -> dict:
        where = f"RolloutBuffer.add: observations[{env}]"
        if not isinstance(observation, dict) or set(observation) != set(observation_fields.FIELDS):
            found = sorted(observation) if isinstance(observation, dict) else type(observation).__name__
            raise ValueError(f"{where}: expected a dict with keys {sorted(observation_fields.FIELDS)}, got {found}")
        graph = observation[observation_fields.GRAPH_TUPLE]
        missing = [field for field in GRAPH_FIELDS if getattr(graph, field, None) is None]
        if missing:
            raise ValueError(f"{where}[{observation_fields.GRAPH_TUPLE!r}]: expected a GraphsTuple, missing {missing}")
        if len(np.asarray(graph.n_node)) != 1:
            raise ValueError(f"{where}[{observation_fields.GRAPH_TUPLE!r}]: expected one graph, got n_node={np.asarray(graph.n_node)}")
        arrays = {key: np.array(observation[key]) for key in (observation_fields.XFER_TUPLES, observation_fields.LOCATION_MASKS,
                                                              observation_fields.XFER_MASK)}
        shapes = {key: array.shape for key, array in arrays.items()}
        if self.observation_shapes is None:
            self.observation_shapes = shapes
        for key, shape in shapes.items():
            if shape != self.observation_shapes[key]:
                raise ValueError(f"{where}[{key!r}]: expected shape {self.observation_shapes[key]} (as the first stored step), got {shape}")
        # Copies, so an environment reusing its arrays cannot change stored steps.
        graph = graph.map(lambda field: np.array(field), fields=GRAPH_FIELDS)
        return {observation_fields.GRAPH_TUPLE: graph, **arrays}

    def add(self, observations: Sequence[dict], xfers, locations, rewards, dones, values, log_probs) -> None:
        """Stores one step of every environment.

        Args:
            observations: one observation dict per environment (keys as in
                rlgraph_xflow.env.observation; its graph_tuple holds one graph;
                the other fields without a batch dimension).
            xfers, locations, rewards, dones, values, log_probs: one value per
                environment: the action taken, the reward and done flag it
                produced, and the value and joint log-probability at acting.

        Raises:
            ValueError: when the buffer is full, or a value has the wrong
                length, keys or shape (the message names which).
        """
        if self.is_full:
            raise ValueError(f"RolloutBuffer.add: the buffer is full ({self.steps_per_env} steps per env); call clear() after the update")
        if len(observations) != self.num_envs:
            raise ValueError(f"RolloutBuffer.add: observations: expected {self.num_envs} (one per env), got {len(observations)}")
        checked = [self._checked_observation(observation, env) for env, observation in enumerate(observations)]
        columns = {"xfers": (xfers, np.int32), "locations": (locations, np.int32), "rewards": (rewards, np.float32),
                   "dones": (dones, bool), "values": (values, np.float32), "log_probs": (log_probs, np.float32)}
        arrays = {}
        for field, (value, dtype) in columns.items():
            array = np.asarray(value).astype(dtype).reshape(-1)
            if array.shape != (self.num_envs,):
                raise ValueError(f"RolloutBuffer.add: {field}: expected {self.num_envs} values (one per env), got shape {np.shape(value)}")
            arrays[field] = array
        self.observations.append(checked)
        for field, array in arrays.items():
            self.steps[field].append(array)
        self.advantages = self.returns = None

    # Reading -----------------------------------------------------------------
    def _series(self, field: str) -> np.ndarray:
        """[num_envs, T] array of one per-step field."""
        if not self.observations:
            raise ValueError("RolloutBuffer is empty")
        return np.stack(self.steps[field], axis=1)

    def time_series(self) -> dict:
        """rewards, values, dones (and the other step fields) as [num_envs, T] arrays."""
        return {field: self._series(field) for field in _STEP_FIELDS}

    def set_advantages(self, advantages: np.ndarray, returns: np.ndarray) -> None:
        """Stores GAE results, [num_envs, T] each, for the minibatches."""
        expected = (self.num_envs, len(self))
        for name, value in (("advantages", advantages), ("returns", returns)):
            if np.shape(value) != expected:
                raise ValueError(f"RolloutBuffer.set_advantages: {name}: expected shape {expected} [num_envs, T], got {np.shape(value)}")
        self.advantages = np.asarray(advantages, np.float32)
        self.returns = np.asarray(returns, np.float32)

    def minibatches(self, batch_size: int, shuffle: bool = True) -> Iterator[dict]:
        """Yields minibatches covering every stored step once.

        Each minibatch is a dict: "observations" (the graphs concatenated into
        one GraphsTuple, the other fields stacked), the step fields (xfers,
        locations, rewards, dones, values, log_probs), "advantages" and
        "returns" when set, and "indices": (env, t) of each row.
        """
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"RolloutBuffer.minibatches: batch_size must be a positive int, got {batch_size!r}")
        series = self.time_series()
        steps = len(self)
        order = np.arange(self.num_envs * steps)
        if shuffle:
            order = self.rng.permutation(order)
        for start in range(0, len(order), batch_size):
            flat = order[start:start + batch_size]
            envs, times = flat // steps, flat % steps
            observations = [self.observations[t][e] for e, t in zip(envs, times)]
            batch = {
                "observations": {
                    observation_fields.GRAPH_TUPLE: concatenate_graphs([o[observation_fields.GRAPH_TUPLE] for o in observations]),
                    **{key: np.stack([o[key] for o in observations]) for key in
                       (observation_fields.XFER_TUPLES, observation_fields.LOCATION_MASKS, observation_fields.XFER_MASK)},
                },
                **{field: values[envs, times] for field, values in series.items()},
                "indices": np.stack([envs, times], axis=1),
            }
            if self.advantages is not None:
                batch["advantages"] = self.advantages[envs, times]
                batch["returns"] = self.returns[envs, times]
            yield batch
