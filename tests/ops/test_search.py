"""Greedy and backtracking search: positive reductions on zoo graphs, costs
that agree with the engine's own cost model, outputs preserved in
onnxruntime, the cost sources (table, measure callback, fallback), and bad
arguments."""
from __future__ import annotations

import numpy as np
import pytest

from rlgraph_xflow.graphs import export, load, zoo
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session
from rlgraph_xflow.graphs.substitutions import backtracking, greedy, load_rules
from rlgraph_xflow.ops import _engine

LIBRARY = load_rules()


@pytest.fixture(scope="module")
def resnet18():
    return load(zoo.build("resnet18"))


@pytest.fixture(scope="module")
def squeezenet():
    return load(zoo.build("squeezenet1_1"))


def outputs(graph, feeds):
    return create_cpu_session(export(graph)).run(None, feeds)


def test_greedy_reduces_resnet18_and_keeps_its_outputs(resnet18):
    result = greedy(resnet18, LIBRARY)
    assert result.initial_cost == pytest.approx(resnet18.cost(device="h100").runtime_ms)
    assert result.final_cost == pytest.approx(result.graph.cost(device="h100").runtime_ms)
    assert result.final_cost < 0.8 * result.initial_cost
    assert "fold_batchnorm_into_conv" in result.applied and len(result.applied) > 20
    assert result.graph.op_types.get("BatchNormalization", 0) == 0
    assert result.graph.weights is resnet18.weights
    rng = np.random.default_rng(1)
    feeds = {info.name: rng.standard_normal(info.shape).astype(np.float32) for info in resnet18.inputs}
    for want, got in zip(outputs(resnet18, feeds), outputs(result.graph, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(want).max())))


def test_greedy_steps_are_each_the_best_single_rewrite(squeezenet):
    """Brute force for the first step: no location beats the one greedy took."""
    first = greedy(squeezenet, LIBRARY, max_steps=1)
    assert len(first.applied) == 1
    found = LIBRARY.locations(squeezenet.engine)
    costs = [
        LIBRARY.apply(squeezenet.engine, xfer, location).cost(device="h100")["runtime_ms"]
        for xfer, count in enumerate(found.counts)
        for location in range(count)
    ]
    assert first.final_cost == pytest.approx(min(costs))
    assert first.explored == len(costs)


def test_backtracking_matches_or_beats_greedy_on_squeezenet(squeezenet):
    greedy_result = greedy(squeezenet, LIBRARY)
    result = backtracking(squeezenet, LIBRARY, alpha=1.05, budget=30)
    assert result.explored == 30
    assert result.final_cost < result.initial_cost
    assert result.final_cost == pytest.approx(result.graph.cost(device="h100").runtime_ms)
    assert len(result.applied) >= 1 and result.final_cost <= greedy_result.final_cost * 1.05
    small = backtracking(squeezenet, LIBRARY, budget=1)
    assert small.explored == 1 and small.final_cost == small.initial_cost and small.applied == ()
    assert greedy_result.final_cost < greedy_result.initial_cost


def test_time_limited_backtracking_stops_on_time_and_equals_the_same_search_cut_by_budget(squeezenet):
    limited = backtracking(squeezenet, LIBRARY, budget=10**9, time_limit_seconds=0.1)
    # Only the graph being expanded when time runs out is finished (a few ms on squeezenet).
    assert 0.1 <= limited.seconds < 1.0
    assert 1 < limited.explored < 10**9
    by_budget = backtracking(squeezenet, LIBRARY, budget=limited.explored)
    assert by_budget.explored == limited.explored
    assert by_budget.final_cost == limited.final_cost and by_budget.steps == limited.steps


def test_measured_costs_and_callback(squeezenet):
    table = {descriptor["cost_key"]: 0.01 for descriptor in squeezenet.measurement_descriptors()}
    calls = []

    def measure(descriptor):
        calls.append(descriptor)
        assert descriptor["cost_key"] not in table
        return 0.001

    result = greedy(squeezenet, LIBRARY, cost_table=table, measure=measure)
    launched = [op for op in squeezenet.cost(device="h100").ops if op.kernel_launches > 0]
    assert result.initial_cost == pytest.approx(0.01 * len(launched))
    assert calls, "new op configurations were never measured"
    assert {"cost_key", "op_type", "input_shapes", "attributes"} <= set(calls[0])
    assert result.final_cost < result.initial_cost
    with pytest.raises(_engine.CostError, match="missing from the measured cost table"):
        greedy(squeezenet, LIBRARY, cost_table=table)
    fallback = greedy(squeezenet, LIBRARY, cost_table=table, fallback_to_analytic=True)
    assert fallback.final_cost < fallback.initial_cost


def test_bad_search_arguments(squeezenet):
    with pytest.raises(_engine.CostError, match="alpha must be >= 1"):
        backtracking(squeezenet, LIBRARY, alpha=0.5)
    with pytest.raises(_engine.CostError, match="budget must be >= 1"):
        backtracking(squeezenet, LIBRARY, budget=0)
    for limit in (0, -1.0):
        with pytest.raises(_engine.CostError, match="time_limit_seconds must be > 0"):
            backtracking(squeezenet, LIBRARY, time_limit_seconds=limit)
    with pytest.raises(_engine.CostError, match="time_limit_seconds must be >= 0"):
        _engine.backtracking(squeezenet.engine, LIBRARY, time_limit_seconds=-1.0)
    with pytest.raises(_engine.CostError, match="unknown"):
        greedy(squeezenet, LIBRARY, device="no_such_device")
    with pytest.raises(_engine.CostError, match="measure callback returned"):
        greedy(squeezenet, LIBRARY, cost_table={}, measure=lambda descriptor: -1.0)
    with pytest.raises(TypeError, match="expected an XflowGraph"):
        greedy(squeezenet.engine, LIBRARY)


@pytest.mark.parametrize("name", ["squeezenet1_1", "resnet18", "inception_v3", "bert_base"])
def test_predicted_hashes_and_runtimes_equal_those_of_the_built_candidates(name):
    """The searches price and hash candidates without building them; along a
    random walk, every prediction must equal the built graph's Graph::Hash
    and its cost from the engine's independent ComputeCost path."""
    engine = load(zoo.build(name)).engine
    rng = np.random.default_rng(0)
    predicted_runtimes = 0
    candidates = 0
    for _ in range(3):
        graph_hash, runtime, estimates = _engine.rewrite_estimates(engine, LIBRARY)
        assert graph_hash == engine.hash()
        assert runtime == pytest.approx(engine.cost(device="h100")["runtime_ms"], rel=1e-12)
        for xfer, location, predicted_hash, predicted_runtime in estimates:
            candidate = LIBRARY.apply(engine, xfer, location)
            assert predicted_hash == candidate.hash(), (LIBRARY.rule_name(xfer), location)
            if predicted_runtime is not None:
                predicted_runtimes += 1
                assert predicted_runtime == pytest.approx(candidate.cost(device="h100")["runtime_ms"], rel=1e-9, abs=1e-12)
        candidates += len(estimates)
        xfer, location = estimates[rng.integers(len(estimates))][:2]
        engine = LIBRARY.apply(engine, xfer, location)
    assert candidates > 0 and predicted_runtimes >= 0.8 * candidates


def test_search_steps_rebuild_the_best_graph(squeezenet):
    for result in (greedy(squeezenet, LIBRARY), backtracking(squeezenet, LIBRARY, budget=30)):
        assert len(result.steps) == len(result.applied) >= 1
        engine = squeezenet.engine
        for (xfer, location), rule in zip(result.steps, result.applied):
            assert LIBRARY.rule_name(xfer) == rule
            engine = LIBRARY.apply(engine, xfer, location)
        assert engine.hash() == result.graph.hash()
