"""Every rule of the packaged library is numerically an equivalence.

For each rule and each of its examples: the source pattern is built as a
concrete graph (random weights, random inputs), the rule is applied at each
of its locations, and source and result run in onnxruntime must give the
same outputs (tolerance scaled to the output magnitude). The test list is
generated from the library itself, so a new rule is tested automatically,
and a rule cannot load without an example.
"""
from __future__ import annotations

import numpy as np
import pytest

from rlgraph_xflow.graphs import export
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session
from rlgraph_xflow.graphs.substitutions import apply, load_rules, locations
from rlgraph_xflow.graphs.xflow_graph import XflowGraph

LIBRARY = load_rules()
CASES = [
    (LIBRARY.rule_name(xfer), example)
    for xfer in range(len(LIBRARY))
    for example in range(LIBRARY.num_examples(xfer))
]


def example_graph(xfer: int, example: int, rng: np.random.Generator) -> tuple[XflowGraph, dict[str, np.ndarray]]:
    """The rule's example as an XflowGraph with random weights, plus random feeds for its inputs."""
    engine = LIBRARY.example_graph(xfer, example)
    weights, feeds = {}, {}
    for tensor in LIBRARY.example_tensors(xfer, example):
        shape, dtype = tuple(tensor["shape"]), np.dtype(tensor["dtype"])
        if tensor["values"] is not None:
            array = np.asarray(tensor["values"], dtype=dtype).reshape(shape)
        elif tensor["kind"] == "positive":
            array = rng.uniform(0.5, 1.5, size=shape).astype(dtype)
        else:
            array = rng.standard_normal(size=shape).astype(dtype)
        (feeds if tensor["kind"] == "input" else weights)[tensor["name"]] = array
    return XflowGraph(engine, weights, [("", 17)], 8, f"rule example {LIBRARY.rule_name(xfer)}#{example}"), feeds


def run(graph: XflowGraph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = create_cpu_session(export(graph))
    return session.run(None, feeds)


@pytest.mark.parametrize("rule_name,example", CASES, ids=[f"{name}#{example}" for name, example in CASES])
def test_rule_preserves_outputs(rule_name, example):
    xfer = LIBRARY.find(rule_name)
    graph, feeds = example_graph(xfer, example, np.random.default_rng(xfer * 100 + example))
    found = locations(graph, LIBRARY)
    count = found.counts[xfer]
    assert count >= 1, f"{rule_name} does not match its example {example}"
    expected = run(graph, feeds)
    for location in range(count):
        rewritten = apply(graph, LIBRARY, xfer, location)
        assert rewritten.hash() != graph.hash(), f"{rule_name} location {location} changes nothing"
        assert [info.name for info in rewritten.outputs] == [info.name for info in graph.outputs]
        actual = run(rewritten, feeds)
        for name, want, got in zip([info.name for info in graph.outputs], expected, actual):
            assert got.shape == want.shape, f"{rule_name}: output {name} shape {got.shape} != {want.shape}"
            scale = max(1.0, float(np.abs(want).max()))
            error = float(np.abs(got.astype(np.float64) - want).max())
            assert error <= 1e-4 * scale, f"{rule_name} location {location}: output {name} differs by {error} (scale {scale})"


def test_library_is_large_and_covers_the_required_families():
    families = {LIBRARY.rule_family(xfer) for xfer in range(len(LIBRARY))}
    assert len(LIBRARY) >= 60, f"only {len(LIBRARY)} rules"
    for family in (
        "conv_activation_fusion",
        "conv_batchnorm_folding",
        "conv_scalar_folding",
        "conv_kernel_enlarging",
        "conv_merge",
        "group_conv_merge",
        "matmul_merge",
        "distributivity",
        "concat_split_elimination",
        "transpose_reshape",
        "elementwise_concat_split",
    ):
        assert family in families, f"no rule of family {family}"
