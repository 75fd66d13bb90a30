"""EnvironmentState priced by a KernelPricer: costs, the observation's runtime feature, errors.

The pricers here are built from a made-up kernel table (no callback), so
nothing is measured and every expected value is computed from the table.
"""
import numpy as np
import pytest

from rlgraph_xflow.graphs import load, substitutions, zoo
from rlgraph_xflow.graphs.errors import CostError
from rlgraph_xflow.ops import _engine

DEVICE = "table-only kernels"
PER_KERNEL_MS, PER_CALL_MS = 0.002, 0.05


@pytest.fixture(scope="module")
def rules():
    return substitutions.load_rules()


@pytest.fixture(scope="module")
def squeezenet():
    return load(zoo.build("squeezenet1_1")).engine


def table_of(graph) -> dict:
    """A distinct made-up runtime per kernel configuration of the graph."""
    return {descriptor["kernel_key"]: 0.01 * (index + 1) for index, descriptor in enumerate(graph.kernel_descriptors())}


def pricer_for(graph) -> "_engine.KernelPricer":
    return _engine.KernelPricer(DEVICE, table_of(graph), PER_KERNEL_MS, PER_CALL_MS)


def test_state_cost_is_the_pricers(rules, squeezenet):
    pricer = pricer_for(squeezenet)
    state = _engine.EnvironmentState(rules, kernel_pricer=pricer)
    state.reset(squeezenet)
    expected = pricer.price(squeezenet)
    assert state.cost() == {key: expected[key] for key in ("runtime_ms", "flops", "mem_access_bytes", "kernel_launches")}
    assert state.cost()["kernel_launches"] == len(squeezenet.runtime_kernels())
    assert state.kernel_pricer is pricer


def test_node_runtime_feature_sits_on_each_kernels_last_member(rules, squeezenet):
    pricer = pricer_for(squeezenet)
    state = _engine.EnvironmentState(rules, kernel_pricer=pricer)
    state.reset(squeezenet)
    nodes = state.observe()["nodes"]
    expected = np.zeros(squeezenet.num_ops)
    for entry in pricer.price(squeezenet)["ops"]:
        expected[entry["op_index"]] = entry["runtime_ms"]
    np.testing.assert_allclose(nodes[:, -1], np.log1p(expected * 1e3), rtol=1e-6)
    fused = [kernel for kernel in squeezenet.runtime_kernels() if len(kernel) > 1]
    assert fused, "squeezenet's Conv+Relu pairs should run as fused kernels"
    for kernel in fused:
        assert (nodes[kernel[:-1], -1] == 0).all() and nodes[kernel[-1], -1] > 0


def test_observe_graph_with_a_kernel_pricer_matches_the_state(rules, squeezenet):
    pricer = pricer_for(squeezenet)
    state = _engine.EnvironmentState(rules, kernel_pricer=pricer)
    state.reset(squeezenet)
    stateless = _engine.observe_graph(rules, squeezenet, kernel_pricer=pricer)
    for name, value in state.observe().items():
        np.testing.assert_array_equal(stateless[name], value, err_msg=name)


def test_analytic_state_is_unchanged(rules, squeezenet):
    state = _engine.EnvironmentState(rules, "v100")
    state.reset(squeezenet)
    assert state.kernel_pricer is None
    assert state.cost()["runtime_ms"] == pytest.approx(squeezenet.cost(device="v100")["runtime_ms"])
    default = _engine.EnvironmentState(rules)
    default.reset(squeezenet)
    assert default.cost()["runtime_ms"] == pytest.approx(squeezenet.cost(device="h100")["runtime_ms"])


def test_device_and_kernel_pricer_together_are_refused(rules, squeezenet):
    pricer = pricer_for(squeezenet)
    with pytest.raises(CostError, match="either device='h100'.*or kernel_pricer"):
        _engine.EnvironmentState(rules, "h100", kernel_pricer=pricer)
    with pytest.raises(CostError, match="either device"):
        _engine.observe_graph(rules, squeezenet, "h100", kernel_pricer=pricer)


def test_a_kernel_missing_from_the_table_is_a_cost_error_that_changes_nothing(rules, squeezenet):
    state = _engine.EnvironmentState(rules, kernel_pricer=pricer_for(squeezenet))
    state.reset(squeezenet)
    before_hash, before_cost, before_counts = state.graph_hash(), state.cost(), state.location_counts()
    # Hoisting a Relu over a Concat unfuses it from the Convs feeding the
    # Concat: Convs without their Relu and a Relu of its own are new kernels.
    xfer = rules.find("hoist_relu_over_concat")
    assert before_counts[xfer] > 0
    with pytest.raises(CostError, match=f"kernel '.*' is missing from the cost table of device '{DEVICE}'"):
        state.apply(xfer, 0)
    assert state.graph_hash() == before_hash and state.cost() == before_cost and state.location_counts() == before_counts
