"""Rule file loading: bad rule text fails with errors naming the file, line and rule id."""
from __future__ import annotations

import pytest

from rlgraph_xflow.ops import _engine

GOOD = """
rule fuse
  family test
  source:
    conv = Conv(x, w) {activation=absent}
    relu = Relu(conv)
  target:
    fused = Conv(x, w) {copy conv, activation="relu"}
  map relu -> fused
  example x = input float32[1,2,4,4]; w = weight float32[3,2,1,1]
end
"""


def test_good_rule_loads_with_its_metadata():
    library = _engine.RuleLibrary.from_text("# a comment\n" + GOOD, "good.rules")
    assert library.names == ["fuse"] and len(library) == 1
    assert library.find("fuse") == 0 and library.find("missing") == -1
    assert library.rule_family(0) == "test"
    file, line, text = library.rule_source(0)
    assert (file, line) == ("good.rules", 3) and "Relu(conv)" in text
    assert library.example_tensors(0, 0) == [
        {"name": "x", "kind": "input", "dtype": "float32", "shape": [1, 2, 4, 4], "values": None},
        {"name": "w", "kind": "weight", "dtype": "float32", "shape": [3, 2, 1, 1], "values": None},
    ]


@pytest.mark.parametrize(
    "mutation,message",
    [
        (lambda text: text.replace("  example x = input float32[1,2,4,4]; w = weight float32[3,2,1,1]\n", ""), "has no example"),
        (lambda text: text.replace("Relu(conv)", "Relux(conv)"), "unknown op type 'Relux'"),
        (lambda text: text.replace("family test\n", ""), "has no 'family' line"),
        (lambda text: text.replace("map relu -> fused", "map relu -> nowhere"), "neither an input variable"),
        (lambda text: text.replace("end\n", ""), "missing its 'end'"),
        (lambda text: text.replace("float32[3,2,1,1]", "float32[3,5,1,1]"), "does not build with this example"),
        (lambda text: text.replace("{activation=absent}", "{activation=absent, group=2}"), "does not build"),
        (lambda text: text.replace("map relu -> fused", "map relu -> fused\n  where dim(x, 1) == 7"), "does not match its own example"),
        (lambda text: text.replace("w = weight", "v = weight"), "not an input variable"),
        (lambda text: text.replace("activation=\"relu\"", "activation=\"relu\" +"), "expression"),
    ],
)
def test_bad_rule_text_names_file_line_and_rule(mutation, message):
    with pytest.raises(_engine.RuleError) as error:
        _engine.RuleLibrary.from_text(mutation(GOOD), "bad.rules")
    assert message in str(error.value)
    assert "bad.rules:" in str(error.value)


def test_duplicate_rule_ids_are_refused(tmp_path):
    (tmp_path / "a.rules").write_text(GOOD)
    (tmp_path / "b.rules").write_text(GOOD)
    with pytest.raises(_engine.RuleError, match="already used by"):
        _engine.RuleLibrary.load(str(tmp_path))


def test_missing_paths_and_empty_directories_are_refused(tmp_path):
    with pytest.raises(_engine.RuleError, match="no such rule file or directory"):
        _engine.RuleLibrary.load(str(tmp_path / "missing.rules"))
    with pytest.raises(_engine.RuleError, match="no \\*.rules files"):
        _engine.RuleLibrary.load(str(tmp_path))


def test_rule_errors_are_engine_errors():
    assert issubclass(_engine.RuleError, _engine.EngineError) and issubclass(_engine.ApplyError, _engine.EngineError)
