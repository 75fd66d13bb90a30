"""Every registered component builds from a minimal YAML spec, runs, and
round-trips a checkpoint. A newly registered component without an entry in
MINIMAL_SPECS fails this suite.

Most components run on `space.sample(...)` inputs. Components whose inputs
must agree with each other (node indices that point into the graphs, one
node embedding per node) get theirs from INPUT_FACTORIES; a component that
only works inside a tree (an optimiser needs a model to update) is built
inside the small root from HARNESSES.
"""
import numpy as np
import pytest
import tree

import rlgraph_xflow.components  # noqa: F401  (registers every component)
from rlgraph_xflow.core import (
    COMPONENTS, BoolBox, Component, ComponentTest, FloatBox, GraphSpace, IntBox, Space, api, from_spec, graph_fn,
)

from tests.components.synthetic_observations import policy_inputs, policy_spaces

OBSERVATIONS = FloatBox((4,), batch_rank=True)
SCALAR_PER_STEP = FloatBox((), batch_rank=True)
SEQUENCE = {"batch_rank": True, "time_rank": True}
NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT = 3, 4, 2, 6
POLICY_SPACES = policy_spaces(NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
LOCATION_ARGUMENTS = ("node_embeddings", "graphs", "xfer_tuples", "location_masks", "xfers")

MDN_RNN_SPACES = {
    "z": FloatBox((LATENT,), **SEQUENCE), "next_z": FloatBox((LATENT,), **SEQUENCE),
    "xfers": IntBox(NUM_XFERS + 1, **SEQUENCE), "locations": IntBox(LOCATIONS, **SEQUENCE),
    "rewards": FloatBox((), **SEQUENCE), "dones": BoolBox((), **SEQUENCE),
    "next_xfer_mask": BoolBox((NUM_XFERS + 1,), **SEQUENCE),
    "next_location_counts": IntBox(LOCATIONS + 1, shape=(NUM_XFERS,), **SEQUENCE),
    "lengths": IntBox(low=0, batch_rank=True),
    "initial_hidden_state": FloatBox((8,), batch_rank=True), "initial_cell_state": FloatBox((8,), batch_rank=True),
    "current_z": FloatBox((LATENT,), batch_rank=True), "current_xfers": IntBox(NUM_XFERS + 1, batch_rank=True),
    "current_locations": IntBox(LOCATIONS, batch_rank=True),
    "hidden_state": FloatBox((8,), batch_rank=True), "cell_state": FloatBox((8,), batch_rank=True),
}

# name -> (minimal spec, input spaces)
MINIMAL_SPECS = {
    "dense": ({"type": "dense", "units": 3}, {"inputs": OBSERVATIONS}),
    "mlp": ({"type": "mlp", "layers": [3]}, {"inputs": OBSERVATIONS}),
    "categorical_head": ({"type": "categorical_head", "num_actions": 2}, {"inputs": OBSERVATIONS, "actions": IntBox(2, batch_rank=True)}),
    "policy": (
        {"type": "policy", "network": {"type": "mlp", "layers": [3]}, "head": {"type": "categorical_head", "num_actions": 2}},
        {"observations": OBSERVATIONS, "actions": IntBox(2, batch_rank=True)},
    ),
    "gn_encoder": ({"type": "gn_encoder", "latent_size": 4, "message_passing_rounds": 1}, {"graphs": GraphSpace(5, 4, 4)}),
    "xfer_policy_head": ({"type": "xfer_policy_head", "num_xfers": NUM_XFERS},
                         {"z": POLICY_SPACES["z"], "xfer_mask": POLICY_SPACES["xfer_mask"]}),
    "location_head": ({"type": "location_head", "num_xfers": NUM_XFERS, "hidden_layers": [4]},
                      {name: POLICY_SPACES[name] for name in LOCATION_ARGUMENTS}),
    "value_head": ({"type": "value_head"}, {"z": POLICY_SPACES["z"]}),
    "masked_dual_action_sampler": ({"type": "masked_dual_action_sampler", "num_xfers": NUM_XFERS}, POLICY_SPACES),
    "gae": ({"type": "gae"}, {"rewards": FloatBox((), **SEQUENCE), "values": FloatBox((), **SEQUENCE),
                              "dones": BoolBox((), **SEQUENCE), "bootstrap_values": SCALAR_PER_STEP}),
    "ppo_loss": ({"type": "ppo_loss"}, {name: SCALAR_PER_STEP for name in (
        "log_probs", "old_log_probs", "advantages", "values", "old_values", "returns", "xfer_entropy", "location_entropy")}),
    "self_imitation_loss": ({"type": "self_imitation_loss"},
                            {name: SCALAR_PER_STEP for name in ("log_probs", "values", "returns")}),
    "adam": ({"type": "adam", "targets": ["model"]}, {"inputs": OBSERVATIONS}),
    "mdn_rnn": ({"type": "mdn_rnn", "latent_size": LATENT, "num_xfers": NUM_XFERS, "max_locations": LOCATIONS,
                 "lstm_units": 8, "num_mixtures": 2}, MDN_RNN_SPACES),
    "latent_location_head": ({"type": "latent_location_head", "num_xfers": NUM_XFERS, "hidden_layers": [4, 3]},
                             {"features": POLICY_SPACES["z"], "location_masks": POLICY_SPACES["location_masks"],
                              "xfers": POLICY_SPACES["xfers"]}),
    "latent_dual_action_sampler": ({"type": "latent_dual_action_sampler", "num_xfers": NUM_XFERS},
                                   {"features": POLICY_SPACES["z"], **{name: POLICY_SPACES[name] for name in (
                                       "location_masks", "xfer_mask", "xfers", "locations")}}),
}


def _policy_factory(rng):
    return policy_inputs(rng, 3, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)


def _mdn_rnn_factory(rng):
    """Sampled sequences with lengths in [0, T] and counts/mask that agree (a mask bit per non-zero count)."""
    inputs = {argument: _sample(space, rng) for argument, space in MDN_RNN_SPACES.items() if argument != "lengths"}
    inputs["lengths"] = np.array([4, 2, 0], np.int32)
    counts = inputs["next_location_counts"]
    inputs["next_xfer_mask"] = np.concatenate([counts > 0, np.ones(counts.shape[:2] + (1,), bool)], axis=-1)
    return inputs


# name -> rng -> {argument: value}, for inputs that must be consistent.
INPUT_FACTORIES = {
    "location_head": _policy_factory,
    "masked_dual_action_sampler": _policy_factory,
    "mdn_rnn": _mdn_rnn_factory,
}


class _OptimisedModel(Component):
    """Harness root for an optimiser: a Dense layer `model` trained to output zeros."""

    def __init__(self, optimizer):
        super().__init__(scope="harness")
        self.model = from_spec({"type": "dense", "units": 2}, scope="model")
        self.optimizer = optimizer
        self.add_components(self.model, optimizer)

    @api
    def train(self, inputs):
        return self.optimizer.step(self._graph_fn_mean_square(self.model.apply(inputs)))

    @graph_fn
    def _graph_fn_mean_square(self, outputs):
        import tensorflow as tf

        return tf.reduce_mean(tf.square(outputs))

    @_graph_fn_mean_square.output_spaces
    def _graph_fn_mean_square(self, outputs):
        return FloatBox(())


# name -> component -> root component to build it in.
HARNESSES = {"adam": _OptimisedModel}


def _sample(space: Space, rng):
    """A random value of `space`: 3 items per batch, 4 steps per time rank."""
    size = {0: None, 1: 3, 2: (3, 4)}[space.leading_rank_count]
    return space.sample(size, rng)


def _contains(spaces, values) -> bool:
    tree.assert_same_structure(spaces, values, check_types=False)
    return all(space.contains(value) for space, value in zip(tree.flatten(spaces), tree.flatten(values)))


def test_every_registered_component_has_a_conformance_entry():
    assert sorted(MINIMAL_SPECS) == COMPONENTS.names()


@pytest.mark.parametrize("name", sorted(MINIMAL_SPECS))
def test_component_builds_runs_and_round_trips_a_checkpoint(name, tmp_path):
    spec, input_spaces = MINIMAL_SPECS[name]
    component = from_spec(spec, f"conformance.{name}")
    root = HARNESSES[name](component) if name in HARNESSES else component
    test = ComponentTest(root, input_spaces)
    rng = np.random.default_rng(0)
    if name in INPUT_FACTORIES:
        inputs = INPUT_FACTORIES[name](rng)
    else:
        inputs = {argument: _sample(space, rng) for argument, space in input_spaces.items()}
    for argument, space in input_spaces.items():
        assert space.contains(inputs[argument]), f"{name}: the test input {argument!r} is outside its space"
    for api_name, root_api in test.executor.meta_graph.root_apis.items():
        outputs = test.test((api_name, tuple(inputs[a] for a in root_api.argument_names)))
        assert _contains(root_api.output_spaces, outputs), f"{name}.{api_name} returned a value outside its space"
    path = test.executor.save(tmp_path / "checkpoint.npz")
    saved = test.read_variable_values()
    for variable in root.trainable_variables():
        variable.assign(variable + 1.0)
    test.executor.restore(path)
    for key, value in test.read_variable_values().items():
        np.testing.assert_array_equal(value, saved[key])
