"""Every registered component builds from a minimal YAML spec, runs, and
round-trips a checkpoint. A newly registered component without an entry in
MINIMAL_SPECS fails this suite."""
import numpy as np
import pytest

import rlgraph_xflow.components  # noqa: F401  (registers every component)
from rlgraph_xflow.core import COMPONENTS, ComponentTest, FloatBox, IntBox, from_spec

OBSERVATIONS = FloatBox((4,), batch_rank=True)

# name -> (minimal spec, input spaces)
MINIMAL_SPECS = {
    "dense": ({"type": "dense", "units": 3}, {"inputs": OBSERVATIONS}),
    "mlp": ({"type": "mlp", "layers": [3]}, {"inputs": OBSERVATIONS}),
    "categorical_head": ({"type": "categorical_head", "num_actions": 2}, {"inputs": OBSERVATIONS, "actions": IntBox(2, batch_rank=True)}),
    "policy": (
        {"type": "policy", "network": {"type": "mlp", "layers": [3]}, "head": {"type": "categorical_head", "num_actions": 2}},
        {"observations": OBSERVATIONS, "actions": IntBox(2, batch_rank=True)},
    ),
}


def test_every_registered_component_has_a_conformance_entry():
    assert sorted(MINIMAL_SPECS) == COMPONENTS.names()


@pytest.mark.parametrize("name", sorted(MINIMAL_SPECS))
def test_component_builds_runs_and_round_trips_a_checkpoint(name, tmp_path):
    spec, input_spaces = MINIMAL_SPECS[name]
    component = from_spec(spec, f"conformance.{name}")
    test = ComponentTest(component, input_spaces)
    rng = np.random.default_rng(0)
    inputs = {argument: space.sample(3, rng) for argument, space in input_spaces.items()}
    for api_name, root_api in test.executor.meta_graph.root_apis.items():
        outputs = test.test((api_name, tuple(inputs[a] for a in root_api.argument_names)))
        assert root_api.output_spaces.contains(outputs), f"{name}.{api_name} returned a value outside its space"
    path = test.executor.save(tmp_path / "checkpoint.npz")
    saved = test.read_variable_values()
    for variable in component.trainable_variables():
        variable.assign(variable + 1.0)
    test.executor.restore(path)
    for key, value in test.read_variable_values().items():
        np.testing.assert_array_equal(value, saved[key])
