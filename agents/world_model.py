"""The model-based agent: a world model learned from real rollouts, a PPO controller trained in its dream.

Classes and functions in this file:
  WorldModelNetwork: the root component: the GN encoder (z), the MDN-RNN
    world model with its own Adam, and the controller (the latent dual
    action sampler and a value head over [z, h]) with GAE, the clipped PPO
    loss and its own Adam.
  WorldModelAgent: builds the network for an environment's sizes, acts in
    the real environment and in a DreamEnv with the same controller, runs
    the world model's and the controller's updates. Registered as agent type
    "world_model" (dissertation 3.4; Ha and Schmidhuber 2018).
  graph_fingerprints: one content hash per graph of a batched GraphsTuple.
  location_counts_of_prefix_masks: the per-xfer location counts of prefix
    location masks (the controller reads counts and builds the masks in TF).

Design (what trains what):
  * z is the global latent of a GN encoder that stays at its seeded random
    initialisation (random features, a legitimate World Models baseline).
    Why not train it: the controller trains in the dream, where no graph
    exists, so its gradient cannot reach the encoder; and training the
    encoder on the MDN-RNN's likelihood of z rewards a collapsed z (a
    constant is the easiest thing to predict). World Models trains its
    encoder first and separately (a VAE); our analogue would need a graph
    decoder. The environment is deterministic and starts from one graph, so
    the LSTM's view of the action history carries what z leaves out.
  * The MDN-RNN (world_model_optimizer) learns P(z', r, done, masks | z, a, h)
    from minibatches of every real episode collected so far: random-agent
    episodes (dissertation 3.4.1), and in later rounds the controller's own
    (WorldModelTrainer's rounds, Ha and Schmidhuber's iterative training).
  * The controller (optimizer) is PPO: the sampler's xfer head reads the
    features [z, h]; its location head (LatentLocationHead) scores location
    slots from [z, h], an xfer embedding and a learned slot embedding, since
    a dream state has no nodes to pool. It trains in a DreamEnv only. It
    takes per-xfer location counts, not masks: masks are prefixes (location
    j of xfer i is valid iff j < count_i), so the [B, N, L] masks are built
    inside its TF graph, and the dream, whose state is counts, never builds
    them in numpy (the real environment's masks are turned into counts,
    checked to be prefixes).
  * In the real environment the same controller acts on the encoder's z and
    the h of the real trajectory: act() runs the MDN-RNN's LSTM over the
    (z, action) pairs of the episode so far. act() learns that a new
    episode began when a row's graph is the environment's initial graph
    (a fingerprint taken by make_trainer, or the first graph act() saw);
    an episode that returns to the initial graph also restarts h.
"""
from __future__ import annotations

import hashlib
from typing import Any, Optional

import numpy as np

import rlgraph_xflow.components  # noqa: F401  (registers the component types)
from rlgraph_xflow.agents.agent import Agent, ObservationSizes, merged_spec
from rlgraph_xflow.agents.registry import AGENTS
from rlgraph_xflow.agents.world_model_trainer import WorldModelTrainer
from rlgraph_xflow.core import BoolBox, Component, Executor, FloatBox, IntBox, SpecError, api, from_spec, graph_fn
from rlgraph_xflow.core.validation import (check_int_at_least, check_non_negative_number, check_number_in_range,
                                          check_positive_number, check_probability)
from rlgraph_xflow.env import dream_env
from rlgraph_xflow.env import observation as fields
from rlgraph_xflow.tf_runtime import load_tensorflow

DEFAULT_SPECS = {
    "encoder": {"type": "gn_encoder", "latent_size": 32, "message_passing_rounds": 5},
    "mdn_rnn": {"type": "mdn_rnn", "lstm_units": 256, "num_mixtures": 8, "temperature": 1.0},
    "world_model_optimizer": {"type": "adam", "learning_rate": 1e-3, "max_gradient_norm": 1.0},
    "sampler": {"type": "latent_dual_action_sampler"},
    "value_head": {"type": "value_head", "hidden_layers": [64]},
    "gae": {"type": "gae", "gamma": 0.99, "gae_lambda": 0.97},
    "loss": {"type": "ppo_loss", "clip_ratio": 0.3},
    "optimizer": {"type": "adam", "learning_rate": 2.5e-3},
}


def location_counts_of_prefix_masks(location_masks) -> np.ndarray:
    """Counts int32 [B, N] of prefix location masks [B, N, L] (the controller's input).

    Raises:
        ValueError: when a mask is not a prefix (location j valid iff j < count).
    """
    masks = np.asarray(location_masks, bool)
    if masks.ndim != 3:
        raise ValueError(f"location_masks must be [B, N, L], got shape {masks.shape}")
    counts = masks.sum(axis=-1, dtype=np.int32)
    differs = (masks != dream_env.location_masks_from_counts(counts, masks.shape[-1])).any(axis=-1)
    if differs.any():
        row, xfer = np.argwhere(differs)[0]
        raise ValueError(f"location_masks must be prefixes (location j of xfer i valid iff j < count_i); row {row}, "
                         f"xfer {xfer} is not: {np.flatnonzero(masks[row, xfer]).tolist()}")
    return counts


def graph_fingerprints(graph_tuple) -> list:
    """One blake2b digest per graph of a batched GraphsTuple (its features and local edges)."""
    n_node, n_edge = np.asarray(graph_tuple.n_node), np.asarray(graph_tuple.n_edge)
    node_offsets = np.concatenate([[0], np.cumsum(n_node)]).astype(np.int64)
    edge_offsets = np.concatenate([[0], np.cumsum(n_edge)]).astype(np.int64)
    nodes, edges = np.asarray(graph_tuple.nodes, np.float32), np.asarray(graph_tuple.edges, np.float32)
    senders, receivers = np.asarray(graph_tuple.senders, np.int64), np.asarray(graph_tuple.receivers, np.int64)
    digests = []
    for index in range(len(n_node)):
        node_slice = slice(node_offsets[index], node_offsets[index + 1])
        edge_slice = slice(edge_offsets[index], edge_offsets[index + 1])
        digest = hashlib.blake2b(digest_size=16)
        for part in (nodes[node_slice], edges[edge_slice], senders[edge_slice] - node_offsets[index],
                     receivers[edge_slice] - node_offsets[index], np.asarray(graph_tuple.globals, np.float32)[index]):
            digest.update(np.ascontiguousarray(part).tobytes())
            digest.update(b"|")
        digests.append(digest.digest())
    return digests


class WorldModelNetwork(Component):
    """Encoder, MDN-RNN world model and PPO controller, with their losses and optimisers.

    Args:
        num_xfers: N. max_locations: L.
        encoder, mdn_rnn, world_model_optimizer, sampler, value_head, gae,
        loss, optimizer: component specs (latent_size, num_xfers and
            max_locations are filled into the MDN-RNN and sampler specs).
    """

    def __init__(self, num_xfers: int, max_locations: int, encoder: dict, mdn_rnn: dict, world_model_optimizer: dict,
                 sampler: dict, value_head: dict, gae: dict, loss: dict, optimizer: dict, seed: int = 0,
                 key_path: str = "agent"):
        super().__init__(scope="world_model")
        self.num_xfers, self.max_locations = num_xfers, max_locations
        for spec in (encoder, mdn_rnn, sampler, value_head):
            spec.setdefault("seed", seed)
        self.encoder = from_spec(encoder, f"{key_path}.encoder", scope="encoder")
        mdn_rnn = dict(mdn_rnn, latent_size=self.encoder.latent_size, num_xfers=num_xfers, max_locations=max_locations)
        self.mdn_rnn = from_spec(mdn_rnn, f"{key_path}.mdn_rnn", scope="mdn_rnn")
        self.sampler = from_spec(dict(sampler, num_xfers=num_xfers), f"{key_path}.sampler", scope="sampler")
        self.value_head = from_spec(value_head, f"{key_path}.value_head", scope="value_head")
        self.gae = from_spec(gae, f"{key_path}.gae", scope="gae")
        self.loss = from_spec(loss, f"{key_path}.loss", scope="loss")
        for name, spec in (("world_model_optimizer", world_model_optimizer), ("optimizer", optimizer)):
            if "targets" in spec:
                raise SpecError(f"{key_path}.{name}.targets", "the world-model agent sets its optimizers' targets itself")
        self.world_model_optimizer = from_spec(dict(world_model_optimizer, targets=[self.mdn_rnn]),
                                               f"{key_path}.world_model_optimizer", scope="world_model_optimizer")
        self.optimizer = from_spec(dict(optimizer, targets=[self.sampler, self.value_head]), f"{key_path}.optimizer",
                                   scope="optimizer")
        self.add_components(self.encoder, self.mdn_rnn, self.sampler, self.value_head, self.gae, self.loss,
                            self.world_model_optimizer, self.optimizer)

    # Encoder and world model ---------------------------------------------------
    @api
    def encode(self, graphs):
        """z [num_graphs, D] of each graph."""
        return self.encoder.global_latent(graphs)

    @api
    def world_model_update(self, z, xfers, locations, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths):
        """One Adam step of the MDN-RNN on padded episodes; returns the loss parts and the gradient norm."""
        parts = self.mdn_rnn.loss(z, xfers, locations, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths)
        return parts, self.world_model_optimizer.step(parts["total_loss"])

    @api
    def world_model_evaluate(self, z, xfers, locations, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths):
        """The MDN-RNN's loss parts and one-step predictions on padded episodes (no update)."""
        parts = self.mdn_rnn.loss(z, xfers, locations, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths)
        return parts, self.mdn_rnn.predict(z, xfers, locations, None, None, lengths)

    @api
    def advance_memory(self, z, xfers, locations, initial_hidden_state, initial_cell_state):
        """The LSTM state after consuming [B, T] (z, action) pairs from the given state (no sampling)."""
        predictions = self.mdn_rnn.predict(z, xfers, locations, initial_hidden_state, initial_cell_state)
        return predictions["hidden_state"], predictions["cell_state"]

    @api
    def dream_step(self, current_z, current_xfers, current_locations, hidden_state, cell_state):
        """One world-model step, sampled with the MDN-RNN's temperature."""
        return self.mdn_rnn.sample_next(current_z, current_xfers, current_locations, hidden_state, cell_state)

    # Controller ------------------------------------------------------------------
    @api
    def controller_act(self, latent, hidden_state, location_counts, xfer_mask):
        """Sampled actions with their log-probabilities, and state values."""
        features = self._graph_fn_features(latent, hidden_state)
        location_masks = self._graph_fn_location_masks(location_counts)
        return self.sampler.sample_actions(features, location_masks, xfer_mask), self.value_head.value(features)

    @api
    def controller_greedy_act(self, latent, hidden_state, location_counts, xfer_mask):
        """The most likely actions (evaluation)."""
        location_masks = self._graph_fn_location_masks(location_counts)
        return self.sampler.greedy_actions(self._graph_fn_features(latent, hidden_state), location_masks, xfer_mask)

    @api
    def controller_value(self, latent, hidden_state):
        """V(s) of each state."""
        return self.value_head.value(self._graph_fn_features(latent, hidden_state))

    @api
    def estimate_advantages(self, rewards, values, dones, bootstrap_values):
        """GAE advantages and returns over [B, T] rollouts."""
        return self.gae.advantages_and_returns(rewards, values, dones, bootstrap_values)

    @api
    def controller_update(self, latent, hidden_state, location_counts, xfer_mask, taken_xfers, taken_locations, old_log_probs,
                          advantages, returns, old_values):
        """One clipped-PPO gradient step of the controller on a minibatch of dream steps."""
        features = self._graph_fn_features(latent, hidden_state)
        location_masks = self._graph_fn_location_masks(location_counts)
        evaluated = self.sampler.evaluate_actions(features, location_masks, xfer_mask, taken_xfers, taken_locations)
        parts = self.loss.loss(evaluated["log_probs"], old_log_probs, advantages, self.value_head.value(features), old_values,
                               returns, evaluated["xfer_entropy"], evaluated["location_entropy"])
        return parts, self.optimizer.step(parts["total_loss"])

    @graph_fn
    def _graph_fn_features(self, latent, hidden_state):
        import tensorflow as tf

        return tf.concat([latent, hidden_state], axis=-1)

    @_graph_fn_features.output_spaces
    def _graph_fn_features(self, latent, hidden_state):
        for name, space in (("latent", latent), ("hidden_state", hidden_state)):
            self.require(isinstance(space, FloatBox) and space.rank == 1 and space.batch_rank and not space.time_rank, name,
                         "a FloatBox [B, width]", space)
        return FloatBox((latent.shape[0] + hidden_state.shape[0],), batch_rank=True)

    @graph_fn
    def _graph_fn_location_masks(self, location_counts):
        import tensorflow as tf

        # Masks are prefixes: location j of xfer i is valid iff j < count_i.
        return tf.range(self.max_locations) < tf.cast(location_counts, tf.int32)[..., None]

    @_graph_fn_location_masks.output_spaces
    def _graph_fn_location_masks(self, location_counts):
        self.require(isinstance(location_counts, IntBox) and location_counts.shape == (self.num_xfers,)
                     and location_counts.batch_rank and not location_counts.time_rank, "location_counts",
                     f"an IntBox [B, N={self.num_xfers}] of location counts", location_counts)
        return BoolBox((self.num_xfers, self.max_locations), batch_rank=True)


@AGENTS.register("world_model")
class WorldModelAgent(Agent):
    """World model + controller trained in the dream, evaluated in the real environment.

    Args:
        sizes: the environment's observation sizes (set by the runner).
        encoder, mdn_rnn, world_model_optimizer, sampler, value_head, gae,
            loss, optimizer: component specs merged over DEFAULT_SPECS.
        temperature: tau of the dream (overrides mdn_rnn.temperature when given).
        num_envs: real environments stepped together.
        rollout_steps: real steps per environment per world-model iteration.
        world_model_epochs: passes over the dataset of every real episode so
            far, per world-model iteration.
        world_model_minibatch_size: episodes per world-model gradient step.
        world_model_dataset_episodes: the dataset keeps at most this many
            episodes, the oldest dropped first (None: every one).
        rounds: collect / train the world model / train the controller in
            the dream this many times (World Models' iterative training);
            the real-step budget is split over them, round 1 collects with
            the random agent, later rounds with the controller.
        real_exploration: in rounds after the first, the per-step
            probability that a real environment takes a random valid action
            instead of the controller's sampled one.
        dream_envs: dream episodes stepped together (the DreamEnv batch).
        dream_rollout_steps: dream steps per dream env per controller update.
        dream_steps_per_env_step: the dream budget, in dream steps per real
            environment step (each round's dream phase takes its share).
        epochs: PPO passes over each dream rollout.
        minibatch_size: dream steps per controller gradient step.
        done_threshold: a dream step ends its episode when the predicted
            done probability exceeds this.
        seed: seeds every component, the random agent and the shuffling.
    """

    def __init__(self, sizes: ObservationSizes, encoder: Any = None, mdn_rnn: Any = None, world_model_optimizer: Any = None,
                 sampler: Any = None, value_head: Any = None, gae: Any = None, loss: Any = None, optimizer: Any = None,
                 temperature: Optional[float] = None, num_envs: int = 4, rollout_steps: int = 32, world_model_epochs: int = 2,
                 world_model_minibatch_size: int = 16, world_model_dataset_episodes: Optional[int] = None,
                 rounds: int = 1, real_exploration: float = 0.2, dream_envs: int = 64, dream_rollout_steps: int = 16,
                 dream_steps_per_env_step: float = 20.0, epochs: int = 4, minibatch_size: int = 256,
                 done_threshold: float = 0.5, seed: int = 0, key_path: str = "agent"):
        self.sizes = sizes
        self.key_path = key_path
        for name in ("num_envs", "rollout_steps", "world_model_epochs", "world_model_minibatch_size", "rounds", "dream_envs",
                     "dream_rollout_steps", "epochs", "minibatch_size"):
            setattr(self, name, check_int_at_least(locals()[name], f"{key_path}.{name}", 1))
        self.world_model_dataset_episodes = (None if world_model_dataset_episodes is None else check_int_at_least(
            world_model_dataset_episodes, f"{key_path}.world_model_dataset_episodes", 1))
        self.real_exploration = check_probability(real_exploration, f"{key_path}.real_exploration")
        self.dream_steps_per_env_step = check_positive_number(dream_steps_per_env_step, f"{key_path}.dream_steps_per_env_step")
        self.done_threshold = check_number_in_range(done_threshold, f"{key_path}.done_threshold", 0, 1)
        self.seed = seed
        specs = {name: merged_spec(DEFAULT_SPECS[name], given, f"{key_path}.{name}") for name, given in (
            ("encoder", encoder), ("mdn_rnn", mdn_rnn), ("world_model_optimizer", world_model_optimizer),
            ("sampler", sampler), ("value_head", value_head), ("gae", gae), ("loss", loss), ("optimizer", optimizer))}
        if temperature is not None:
            temperature = check_non_negative_number(temperature, f"{key_path}.temperature")
            if mdn_rnn is not None and isinstance(mdn_rnn, dict) and "temperature" in mdn_rnn:
                raise SpecError(f"{key_path}.temperature", "set the temperature once: either agent.temperature or agent.mdn_rnn.temperature")
            specs["mdn_rnn"]["temperature"] = temperature
        self.network = WorldModelNetwork(sizes.num_xfers, sizes.max_locations, seed=seed, key_path=key_path, **specs)
        self.temperature = self.network.mdn_rnn.temperature
        self.latent_size = self.network.encoder.latent_size
        self.lstm_units = self.network.mdn_rnn.lstm_units
        self.executor = Executor(self.network, self.input_spaces(sizes, self.latent_size, self.lstm_units))
        self.initial_fingerprints: set = set()
        self._memory: Optional[dict] = None
        self._dream_step_function = None

    @staticmethod
    def input_spaces(sizes: ObservationSizes, latent_size: int, lstm_units: int) -> dict:
        num_xfers, locations = sizes.num_xfers, sizes.max_locations
        sequence = {"batch_rank": True, "time_rank": True}
        batch = {"batch_rank": True}
        scalar, series = FloatBox((), **batch), FloatBox((), **sequence)
        state = FloatBox((lstm_units,), **batch)
        graphs = fields.observation_space(num_xfers, locations, sizes.max_pattern_ops, sizes.node_feature_size - 1)[fields.GRAPH_TUPLE]
        return {
            "graphs": graphs,
            "z": FloatBox((latent_size,), **sequence), "next_z": FloatBox((latent_size,), **sequence),
            "xfers": IntBox(num_xfers + 1, **sequence), "locations": IntBox(locations, **sequence),
            "rewards": series, "dones": BoolBox((), **sequence),
            "next_xfer_mask": BoolBox((num_xfers + 1,), **sequence),
            "next_location_counts": IntBox(locations + 1, shape=(num_xfers,), **sequence),
            "lengths": IntBox(low=0, **batch),
            "initial_hidden_state": state, "initial_cell_state": state, "hidden_state": state, "cell_state": state,
            "current_z": FloatBox((latent_size,), **batch), "current_xfers": IntBox(num_xfers + 1, **batch),
            "current_locations": IntBox(locations, **batch),
            "latent": FloatBox((latent_size,), **batch),
            "location_counts": IntBox(locations + 1, shape=(num_xfers,), **batch), "xfer_mask": BoolBox((num_xfers + 1,), **batch),
            "taken_xfers": IntBox(num_xfers + 1, **batch), "taken_locations": IntBox(locations, **batch),
            "old_log_probs": scalar, "advantages": scalar, "returns": scalar, "old_values": scalar, "values": series,
            "bootstrap_values": scalar,
        }

    @property
    def build_stats(self):
        return self.executor.stats

    # The world model ---------------------------------------------------------------
    def encode(self, graph_tuple) -> np.ndarray:
        """z [num_graphs, D] of a batched GraphsTuple."""
        return self.executor.execute("encode", graph_tuple)

    def dream_step(self, z, xfers, locations, hidden_state, cell_state) -> dict:
        """One sampled world-model step for B rows (the DreamEnv's WorldModelStep).

        The dream's hot path: it calls the built `dream_step` function's
        concrete function itself and checks the arguments here (shapes and id
        ranges, what Executor.execute checks), since the executor's generic
        per-call argument binding and space walk, and tf.function's own
        argument dispatch, cost 0.3 to 1 ms a call, a quarter of the model's
        own time at batch 256.

        Args:
            z: [B, D] latents. xfers: [B] ids in [0, N]. locations: [B] ids
                in [0, L). hidden_state, cell_state: [B, lstm_units].

        Returns:
            numpy next_z [B, D], reward [B], done_probability [B], xfer_mask
            bool [B, N + 1], location_counts int32 [B, N], hidden_state and
            cell_state [B, lstm_units].

        Raises:
            ValueError: for an argument of the wrong shape or an id out of
                range (the message names the argument).
        """
        arguments = {"z": np.asarray(z, np.float32), "xfers": np.asarray(xfers, np.int32),
                     "locations": np.asarray(locations, np.int32), "hidden_state": np.asarray(hidden_state, np.float32),
                     "cell_state": np.asarray(cell_state, np.float32)}
        rows = arguments["z"].shape[0] if arguments["z"].ndim else None
        expected = {"z": (rows, self.latent_size), "xfers": (rows,), "locations": (rows,),
                    "hidden_state": (rows, self.lstm_units), "cell_state": (rows, self.lstm_units)}
        for name, shape in expected.items():
            if arguments[name].shape != shape:
                raise ValueError(f"WorldModelAgent.dream_step: argument {name!r} must have shape {shape} (B = rows of z), "
                                 f"got {arguments[name].shape}")
        for name, high in (("xfers", self.sizes.num_xfers + 1), ("locations", self.sizes.max_locations)):
            values = arguments[name]
            if rows and (values.min() < 0 or values.max() >= high):
                raise ValueError(f"WorldModelAgent.dream_step: argument {name!r} must hold ids in [0, {high}), "
                                 f"got values in [{values.min()}, {values.max()}]")
        if self._dream_step_function is None:
            self._dream_step_function = self.executor.functions["dream_step"].get_concrete_function()
        tf = load_tensorflow()
        outputs = self._dream_step_function(*(tf.convert_to_tensor(value) for value in arguments.values()))
        return {key: value.numpy() for key, value in outputs.items()}

    def update_world_model(self, batch: dict) -> dict:
        """One gradient step on pad_episodes' arrays; returns the loss parts and the gradient norm."""
        parts, gradient_norm = self.executor.execute("world_model_update", *(batch[name] for name in _SEQUENCE_ARGUMENTS))
        return {**{key: float(value) for key, value in parts.items()}, "gradient_norm": float(gradient_norm)}

    def evaluate_world_model(self, batch: dict) -> tuple:
        """(loss parts, predictions) on pad_episodes' arrays, without learning."""
        return self.executor.execute("world_model_evaluate", *(batch[name] for name in _SEQUENCE_ARGUMENTS))

    # Acting ----------------------------------------------------------------------------
    def remember_initial_observation(self, observation: dict) -> None:
        """Marks the graph(s) of `observation` as episode starts (act() then restarts h there)."""
        self.initial_fingerprints.update(graph_fingerprints(observation[fields.GRAPH_TUPLE]))

    def reset_memory(self) -> None:
        """Forgets the real trajectories act() was following (every row restarts)."""
        self._memory = None

    def _real_features(self, observations: dict) -> tuple:
        """(z, h) of real observations: z from the encoder, h from the LSTM over each row's episode so far."""
        graphs = observations[fields.GRAPH_TUPLE]
        z = self.encode(graphs)
        rows = z.shape[0]
        fingerprints = graph_fingerprints(graphs)
        if not self.initial_fingerprints:
            self.initial_fingerprints.update(fingerprints)
        zeros = np.zeros((rows, self.lstm_units), np.float32)
        memory = self._memory
        if memory is None or memory["z"].shape[0] != rows:
            return z, zeros, zeros
        hidden, cell = self.executor.execute("advance_memory", memory["z"][:, None], memory["xfers"][:, None],
                                             memory["locations"][:, None], memory["hidden_state"], memory["cell_state"])
        starts = np.array([fingerprint in self.initial_fingerprints for fingerprint in fingerprints])[:, None]
        return z, np.where(starts, 0.0, hidden).astype(np.float32), np.where(starts, 0.0, cell).astype(np.float32)

    def act(self, observations: dict, greedy: bool = False) -> dict:
        """Actions for a batched real observation (graph_tuple, ...) or dream observation (z, hidden_state, ...)."""
        if fields.GRAPH_TUPLE in observations:
            latent, hidden, cell = self._real_features(observations)
            counts = location_counts_of_prefix_masks(observations[fields.LOCATION_MASKS])
        elif dream_env.LATENT in observations:
            latent, hidden, cell = observations[dream_env.LATENT], observations[dream_env.HIDDEN_STATE], None
            counts = observations[dream_env.LOCATION_COUNTS]
        else:
            raise ValueError(f"WorldModelAgent.act: expected a real observation (keys {list(fields.FIELDS)}) or a dream "
                             f"observation (keys {list(dream_env.DREAM_FIELDS)}), got keys {sorted(observations)}")
        arguments = (np.asarray(latent, np.float32), np.asarray(hidden, np.float32), np.asarray(counts, np.int32),
                     np.asarray(observations[fields.XFER_MASK], bool))
        if greedy:
            actions = dict(self.executor.execute("controller_greedy_act", *arguments))
        else:
            sampled, values = self.executor.execute("controller_act", *arguments)
            actions = dict(sampled, values=values)
        if cell is not None:
            self._memory = {"z": arguments[0], "xfers": actions["xfers"].astype(np.int32),
                            "locations": actions["locations"].astype(np.int32), "hidden_state": hidden, "cell_state": cell}
        return actions

    def set_taken_actions(self, xfers, locations) -> None:
        """Tells act()'s memory of the real trajectories which actions were taken after its last call.

        act() remembers the actions it returned; a caller that replaced some
        of them (an exploring collector takes random ones) says so here, so
        the next h follows the actions the environments really took.

        Raises:
            ValueError: when act() has not acted on a real observation since
                the last reset_memory(), or the arrays do not have one entry
                per row of that observation.
        """
        if self._memory is None:
            raise ValueError("WorldModelAgent.set_taken_actions: act() has not acted on a real observation since the "
                             "memory was reset; there are no actions to replace")
        rows = self._memory["xfers"].shape[0]
        xfers, locations = np.asarray(xfers), np.asarray(locations)
        if xfers.shape != (rows,) or locations.shape != (rows,):
            raise ValueError(f"WorldModelAgent.set_taken_actions: expected xfers and locations of shape ({rows},) "
                             f"(one per row act() saw), got {xfers.shape} and {locations.shape}")
        self._memory["xfers"], self._memory["locations"] = xfers.astype(np.int32), locations.astype(np.int32)

    def bootstrap_values(self, observations: dict) -> np.ndarray:
        """V of dream observations (the controller only learns in the dream)."""
        return self.executor.execute("controller_value", np.asarray(observations[dream_env.LATENT], np.float32),
                                     np.asarray(observations[dream_env.HIDDEN_STATE], np.float32))

    def estimate_advantages(self, rewards, values, dones, bootstrap_values) -> tuple:
        return self.executor.execute("estimate_advantages", np.asarray(rewards, np.float32), np.asarray(values, np.float32),
                                     np.asarray(dones, bool), np.asarray(bootstrap_values, np.float32))

    def update(self, batch: dict) -> dict:
        """One PPO step of the controller on a minibatch of dream steps (see DreamRollout.minibatches)."""
        parts, gradient_norm = self.executor.execute(
            "controller_update", batch["z"], batch["hidden_state"], batch["location_counts"], batch["xfer_mask"],
            batch["xfers"], batch["locations"], batch["log_probs"], batch["advantages"], batch["returns"], batch["values"])
        return {**{key: float(value) for key, value in parts.items()}, "gradient_norm": float(gradient_norm)}

    # Training and checkpoints --------------------------------------------------------------
    def make_trainer(self, execution, run_dir: str, training: dict, seed: int):
        return WorldModelTrainer(self, execution, run_dir, total_env_steps=training["total_env_steps"],
                                 checkpoint_every=training["checkpoint_every"], seed=seed)

    def save(self, path: str) -> str:
        return self.executor.save(path)

    def restore(self, path: str) -> None:
        self.executor.restore(path)
        self.reset_memory()


_SEQUENCE_ARGUMENTS = ("z", "xfers", "locations", "next_z", "rewards", "dones", "next_xfer_mask", "next_location_counts", "lengths")
