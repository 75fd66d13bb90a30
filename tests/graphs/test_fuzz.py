"""Equivalence fuzzing: random walks of 20 uniformly drawn valid rewrites on each
zoo graph (three seeds each); the exported ONNX must compute what the original
does in onnxruntime. A failing walk is bisected to the rewrite that broke it.
benchmarks/fuzz.py runs the same check over thousands of walks."""
from __future__ import annotations

import pytest

from rlgraph_xflow.graphs import load, zoo
from rlgraph_xflow.graphs.substitutions import load_rules
from rlgraph_xflow.graphs.verify import random_inputs
from rlgraph_xflow.optimize import EquivalenceChecker, first_breaking_step, random_walk

STEPS = 20
SEEDS = (0, 1, 2)
LIBRARY = load_rules()


@pytest.fixture(scope="module", params=zoo.names())
def subject(request):
    """(graph, checker) per zoo model, built once; bert_base at sequence length 16, batch 1."""
    options = {"sequence_length": 16} if request.param == "bert_base" else {}
    original = zoo.build(request.param, **options)
    return load(original), EquivalenceChecker(original, random_inputs(original, seed=3))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_walk_keeps_outputs(subject, seed):
    graph, checker = subject
    walk = random_walk(graph, LIBRARY, num_steps=STEPS, seed=seed)
    assert not walk.stopped_early and len(walk.steps) == STEPS
    comparison = checker.compare(walk.graph)
    if not comparison.equal:
        step = first_breaking_step(walk.graphs, checker)
        culprit = "the import/export round trip" if step in (0, None) else f"step {step}: {walk.steps[step - 1]}"
        pytest.fail(
            f"walk (seed {seed}) broke equivalence; first breaking rewrite: {culprit}; "
            f"max |diff| {comparison.max_abs_diff:.3g} on {comparison.worst_output}; error: {comparison.error}; "
            f"rules: {[walk_step.rule for walk_step in walk.steps]}"
        )
