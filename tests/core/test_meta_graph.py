"""The trace phase: meta-graph recording and space checks before TF ops."""
import sys

import pytest

from rlgraph_xflow.components.layers import Dense
from rlgraph_xflow.core import (Component, Dict, FloatBox, IntBox, SpaceMismatchError, TraceError, api, from_spec,
                                graph_fn, trace)


def _policy():
    import rlgraph_xflow.components  # noqa: F401

    return from_spec({"type": "policy", "network": {"type": "mlp", "layers": [8, 8]},
                      "head": {"type": "categorical_head", "num_actions": 3}}, "model")


def test_trace_records_calls_and_output_spaces():
    policy = _policy()
    graph = trace(policy, {"observations": FloatBox((5,), batch_rank=True), "actions": IntBox(3, batch_rank=True)})
    assert sorted(graph.root_apis) == ["get_action", "get_entropy", "get_greedy_action", "get_log_prob"]
    assert graph.root_apis["get_action"].output_spaces == IntBox(3, batch_rank=True)
    assert graph.root_apis["get_log_prob"].argument_names == ["observations", "actions"]
    edges = {(e.source, e.target) for e in graph.edges}
    assert ("policy.get_action", "policy/network.apply") in edges
    assert ("policy/network.apply", "policy/network/dense_0.apply") in edges
    assert ("policy/network/dense_1.apply", "policy/network/dense_1._graph_fn_apply") in edges
    assert ("input:observations", "policy.get_action") in edges
    assert graph.nodes["policy/network/dense_0._graph_fn_apply"].output_spaces == FloatBox((8,), batch_rank=True)


def test_trace_creates_no_variables_and_no_tf_ops():
    policy = _policy()
    trace(policy, {"observations": FloatBox((5,), batch_rank=True), "actions": IntBox(3, batch_rank=True)})
    assert policy.variables_recursive() == {}
    assert all(not c.variables_created for c in policy.components_recursive())


def test_space_mismatch_names_component_api_argument_expected_and_actual():
    policy = _policy()
    with pytest.raises(SpaceMismatchError) as caught:
        trace(policy, {"observations": IntBox(4, shape=(5,), batch_rank=True), "actions": IntBox(3, batch_rank=True)})
    error = caught.value
    assert error.component == "policy/network/dense_0"
    assert error.api == "apply"
    assert error.argument == "inputs"
    assert "FloatBox" in error.expected
    assert error.actual == IntBox(4, shape=(5,), batch_rank=True)
    assert "policy.get_action -> policy/network.apply" in error.call_path


def test_wrong_action_space_is_caught_in_the_head():
    policy = _policy()
    with pytest.raises(SpaceMismatchError) as caught:
        trace(policy, {"observations": FloatBox((5,), batch_rank=True), "actions": IntBox(3, shape=(2,), batch_rank=True)})
    assert caught.value.component == "policy/head"
    assert caught.value.argument == "actions"


def test_missing_input_space_is_reported_with_the_api():
    with pytest.raises(TraceError, match=r"root API 'get_log_prob' .* needs input spaces for \['actions'\]"):
        trace(_policy(), {"observations": FloatBox((5,), batch_rank=True)})


def test_unknown_api_is_reported():
    with pytest.raises(TraceError, match="has no API"):
        trace(Dense(2), {"inputs": FloatBox((2,))}, apis=["predict"])


class NoRule(Component):
    @api
    def apply(self, inputs):
        return self._graph_fn_identity(inputs)

    @graph_fn
    def _graph_fn_identity(self, inputs):
        return inputs


class Arithmetic(Component):
    @api
    def apply(self, inputs):
        return inputs + 1


def test_graph_fn_without_space_rule_is_a_trace_error():
    with pytest.raises(TraceError, match=r"declares no output spaces; add a rule with @_graph_fn_identity.output_spaces"):
        trace(NoRule(), {"inputs": FloatBox((2,))})


def test_arithmetic_in_an_api_body_is_refused():
    with pytest.raises(TraceError, match="API bodies only route values"):
        trace(Arithmetic(), {"inputs": FloatBox((2,))})


def test_dict_records_can_be_indexed():
    class Pick(Component):
        def __init__(self):
            super().__init__()
            self.layer = Dense(2)
            self.add_components(self.layer)

        @api
        def apply(self, observations):
            return self.layer.apply(observations["features"])

    space = Dict(features=FloatBox((3,)), mask=IntBox(2), batch_rank=True)
    graph = trace(Pick(), {"observations": space})
    assert graph.root_apis["apply"].output_spaces == FloatBox((2,), batch_rank=True)


def test_dot_export_has_nested_clusters_and_labelled_edges():
    graph = trace(_policy(), {"observations": FloatBox((5,), batch_rank=True), "actions": IntBox(3, batch_rank=True)})
    dot = graph.to_dot()
    assert dot.startswith("digraph meta_graph {")
    assert 'subgraph "cluster_policy" {' in dot
    assert 'subgraph "cluster_policy/network/dense_0" {' in dot
    assert dot.index('subgraph "cluster_policy" {') < dot.index('subgraph "cluster_policy/network" {')
    assert '"policy/network.apply" -> "policy/network/dense_0.apply" [label="inputs: FloatBox(shape=(5,), ranks=[batch])"];' in dot
    assert dot.count("{") == dot.count("}")


def test_tracing_alone_does_not_import_tensorflow():
    import subprocess

    code = (
        "import sys, rlgraph_xflow.components\n"
        "from rlgraph_xflow.core import FloatBox, IntBox, from_spec, trace\n"
        "p = from_spec({'type': 'policy', 'network': {'type': 'mlp', 'layers': [4]}, 'head': {'type': 'categorical_head', 'num_actions': 2}})\n"
        "trace(p, {'observations': FloatBox((3,), batch_rank=True), 'actions': IntBox(2, batch_rank=True)})\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
