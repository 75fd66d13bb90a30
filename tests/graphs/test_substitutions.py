"""The XflowGraph-level substitution API: packaged rules, locations, apply
(weights shared, results export), and bad input."""
from __future__ import annotations

import os

import numpy as np
import pytest

from rlgraph_xflow.graphs import export, load, zoo
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session
from rlgraph_xflow.graphs.substitutions import RULES_DIR, ApplyError, RuleError, apply, load_rules, locations


@pytest.fixture(scope="module")
def graph():
    return load(zoo.build("squeezenet1_1"))


def test_packaged_rules_load_by_default_and_from_paths():
    default = load_rules()
    assert len(default) >= 60
    assert os.path.isdir(RULES_DIR)
    files = sorted(os.path.join(RULES_DIR, name) for name in os.listdir(RULES_DIR) if name.endswith(".rules"))
    assert load_rules(files).names == default.names
    assert load_rules(files[0]).names == default.names[: len(load_rules(files[0]))]


def test_locations_and_apply_share_weights_and_export(graph):
    library = load_rules()
    found = locations(graph, library)
    assert len(found.counts) == len(library) == len(found.descriptors)
    fuse = library.find("fuse_conv_bias_relu")
    assert found.counts[fuse] == 26 and len(found.descriptors[fuse]) == 26
    result = apply(graph, library, fuse, 3)
    assert result.weights is graph.weights and result.opset_imports == graph.opset_imports
    assert result.op_types["Relu"] == graph.op_types["Relu"] - 1
    rng = np.random.default_rng(0)
    feeds = {info.name: rng.standard_normal(info.shape).astype(np.float32) for info in graph.inputs}
    want = create_cpu_session(export(graph)).run(None, feeds)
    got = create_cpu_session(export(result)).run(None, feeds)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)


def test_bad_input(graph, tmp_path):
    library = load_rules()
    with pytest.raises(TypeError, match="expected an XflowGraph"):
        locations(graph.engine, library)
    with pytest.raises(ApplyError, match="out of range"):
        apply(graph, library, len(library), 0)
    with pytest.raises(ApplyError, match="out of range"):
        apply(graph, library, 0, 10**6)
    with pytest.raises(RuleError, match="no such rule file"):
        load_rules(tmp_path / "missing.rules")
    bad = tmp_path / "bad.rules"
    bad.write_text("rule x\n  family f\n  source:\n    y = Relu(a)\n  map y -> a\nend\n")
    with pytest.raises(RuleError, match=r"bad.rules:1: rule 'x' has no example"):
        load_rules(bad)
