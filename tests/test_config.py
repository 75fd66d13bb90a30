"""Tests for rlgraph_xflow.config: safe loading, bases, overrides, key locations, saving.

Expected values are written out by hand from the YAML text in each test (line
numbers counted in the dedented text, merges worked out on paper), so a test
fails whenever the loader disagrees with what the file says.
"""

import datetime
import os
import pickle
import textwrap

import pytest
import yaml

from rlgraph_xflow.config import Config, ConfigError, load_config


def write(directory, name, text):
    """Writes dedented `text` to directory/name and returns the path as a string."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


AGENT_YAML = """
agent:
  learning_rate: 3e-4
  policy:
    layers:
      - units: 64
        activation: relu
      - units: 32
        activation: tanh
  network:
    type: graph_network
    rounds: 5
env:
  graph: resnet18
  normalise: true
  seed: null
"""


# ------------------------------------------------------------ plain loading


def test_loads_plain_yaml_types_and_dotted_access(tmp_path):
    path = write(tmp_path, "agent.yaml", AGENT_YAML)
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.data == {
        "agent": {
            "learning_rate": 0.0003,
            "policy": {
                "layers": [
                    {"units": 64, "activation": "relu"},
                    {"units": 32, "activation": "tanh"},
                ]
            },
            "network": {"type": "graph_network", "rounds": 5},
        },
        "env": {"graph": "resnet18", "normalise": True, "seed": None},
    }
    assert type(config.get("agent.learning_rate")) is float
    assert config.get("agent.policy.layers[1].units") == 32
    assert config["agent.network.type"] == "graph_network"
    assert config.get("agent.policy.layers[2].units", "fallback") == "fallback"
    assert config.get("agent.network.rounds.deeper", 7) == 7
    assert config.get("env.seed", "fallback") is None
    assert "agent.network" in config and "agent.nothing" not in config
    assert sorted(config) == ["agent", "env"] and len(config) == 2
    with pytest.raises(KeyError):
        config["agent.missing"]


def test_values_handed_out_are_copies(tmp_path):
    config = load_config(write(tmp_path, "agent.yaml", AGENT_YAML))
    config.data["agent"]["network"]["type"] = "changed"
    config.get("agent.policy.layers")[0]["units"] = -1
    config["env"]["graph"] = "changed"
    assert config.get("agent.network.type") == "graph_network"
    assert config.get("agent.policy.layers[0].units") == 64
    assert config.get("env.graph") == "resnet18"


def test_malformed_key_paths_are_refused_by_every_accessor(tmp_path):
    config = load_config(write(tmp_path, "agent.yaml", AGENT_YAML))
    for bad_path in ["agent..policy", "agent.layers[x]", "agent.", "[0]", "agent.layers[-1]"]:
        for accessor in (config.get, config.location, lambda path: config.error(path, "message")):
            with pytest.raises(ConfigError, match="malformed key path"):
                accessor(bad_path)
    with pytest.raises(TypeError, match="key path must be a string"):
        config.get(3)


def test_exponent_floats_without_dot_are_floats(tmp_path):
    # Plain PyYAML (YAML 1.1) reads "1e-3" as a string; the loader must not.
    assert yaml.safe_load("a: 1e-3") == {"a": "1e-3"}
    path = write(tmp_path, "floats.yaml", "a: 1e-3\nb: 2E5\nc: -1.5e+2\nd: 12\ne: 0x1F\nf: 1e\n")
    data = load_config(path).data
    assert data == {"a": 0.001, "b": 200000.0, "c": -150.0, "d": 12, "e": 31, "f": "1e"}
    assert [type(data[key]) for key in "abcdef"] == [float, float, float, int, int, str]


def test_anchors_and_merge_keys(tmp_path):
    path = write(
        tmp_path,
        "anchors.yaml",
        """
        defaults: &defaults
          units: 64
          activation: relu
        small:
          <<: *defaults
          units: 8
        same: *defaults
        """,
    )
    config = load_config(path)
    assert config.data == {
        "defaults": {"units": 64, "activation": "relu"},
        "small": {"units": 8, "activation": "relu"},
        "same": {"units": 64, "activation": "relu"},
    }
    assert config.location("small.units") == f"{path}:6"
    assert config.location("small.activation") == f"{path}:3"


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "recursive.yaml", "a: &loop\n  - 1\n  - *loop\n")
    with pytest.raises(ConfigError, match="recursive alias") as raised:
        load_config(path)
    assert raised.value.path == path


# --------------------------------------------------------------- locations


def test_location_of_every_kind_of_key(tmp_path):
    path = write(tmp_path, "agent.yaml", AGENT_YAML)
    config = load_config(path)
    expected_lines = {
        "agent": 1,
        "agent.learning_rate": 2,
        "agent.policy": 3,
        "agent.policy.layers": 4,
        "agent.policy.layers[0]": 5,
        "agent.policy.layers[0].units": 5,
        "agent.policy.layers[0].activation": 6,
        "agent.policy.layers[1]": 7,
        "agent.policy.layers[1].units": 7,
        "agent.network.type": 10,
        "env.seed": 15,
    }
    for key_path, line in expected_lines.items():
        assert config.location(key_path) == f"{path}:{line}", key_path
    # Missing keys point at their closest existing parent, where they belong.
    assert config.location("agent.network.hidden") == f"{path}:9"
    assert config.location("nowhere") == path


def test_error_formats_file_line_and_key_path(tmp_path):
    path = write(tmp_path, "agent.yaml", AGENT_YAML)
    config = load_config(path)
    error = config.error("agent.network.type", "unknown component type 'graph_network'")
    assert isinstance(error, ConfigError)
    assert str(error) == f"{path}:10: agent.network.type: unknown component type 'graph_network'"
    assert (error.path, error.line, error.key_path) == (path, 10, "agent.network.type")
    assert error.message == "unknown component type 'graph_network'"
    # A missing key is reported at its parent's line but under its own path.
    missing = config.error("agent.network.hidden", "required key missing")
    assert str(missing) == f"{path}:9: agent.network.hidden: required key missing"


def test_config_error_survives_pickling(tmp_path):
    config = load_config(write(tmp_path, "agent.yaml", AGENT_YAML))
    error = config.error("env.graph", "not in the zoo")
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.path, copied.line, copied.key_path, copied.message) == (
        error.path, 13, "env.graph", "not in the zoo",
    )
    assert str(copied) == str(error)


# ------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    path = str(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="config file not found") as raised:
        load_config(path)
    assert raised.value.path == path
    with pytest.raises(ConfigError, match="expected a YAML file, found a directory"):
        load_config(tmp_path)


def test_bad_argument_types(tmp_path):
    path = write(tmp_path, "agent.yaml", AGENT_YAML)
    with pytest.raises(TypeError, match="wrap it in a list"):
        load_config(path, "agent.learning_rate=1")
    with pytest.raises(TypeError, match="path must be a file path"):
        load_config(42)
    with pytest.raises(TypeError, match="override must be a 'key.path=value' string"):
        load_config(path, [("agent.learning_rate", 1)])


def test_syntax_error_reports_file_line_column_and_problem(tmp_path):
    path = write(tmp_path, "broken.yaml", "agent:\n  units: 3\n  layers: [1, 2\nenv: x\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    error = raised.value
    # The flow sequence opened on line 3 is still open when line 4's "env: x" arrives.
    assert (error.path, error.line, error.column) == (path, 4, 4)
    assert str(error).startswith(f"{path}:4:4: YAML syntax error: expected ',' or ']'")
    assert "line 3, column 11" in str(error)


def test_bad_indentation_is_a_syntax_error_with_line(tmp_path):
    path = write(tmp_path, "indent.yaml", "a:\n  b: 1\n c: 2\n")
    with pytest.raises(ConfigError, match="YAML syntax error") as raised:
        load_config(path)
    assert (raised.value.path, raised.value.line) == (path, 3)


@pytest.mark.parametrize(
    "text, found, line",
    [
        ("- 1\n- 2\n", "found a list of 2 items", 1),
        ("# a comment\n\njust text\n", "found a string ('just text')", 3),
        ("42\n", "found an integer (42)", 1),
        ("# only a comment\n", "found an empty document", None),
        ("", "found an empty document", None),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path, text, found, line):
    path = write(tmp_path, "top.yaml", text)
    with pytest.raises(ConfigError, match="expected a mapping of settings") as raised:
        load_config(path)
    assert found in raised.value.message
    assert (raised.value.path, raised.value.line) == (path, line)


def test_several_documents_are_refused(tmp_path):
    path = write(tmp_path, "two.yaml", "a: 1\n---\nb: 2\n")
    with pytest.raises(ConfigError, match="expected a single document") as raised:
        load_config(path)
    assert raised.value.line == 2


def test_python_tags_are_refused_and_never_run(tmp_path):
    target = tmp_path / "created_by_yaml"
    path = write(
        tmp_path,
        "unsafe.yaml",
        f"""
        agent:
          network: !!python/object/apply:os.mkdir ["{target}"]
        """,
    )
    with pytest.raises(ConfigError, match="tag '!!python/object/apply:os.mkdir' is not allowed") as raised:
        load_config(path)
    assert not target.exists()
    error = raised.value
    assert (error.path, error.line, error.key_path) == (path, 2, "agent.network")
    assert "can run code" in error.message

    object_path = write(tmp_path, "object.yaml", "a: !!python/object:collections.OrderedDict {}\n")
    with pytest.raises(ConfigError, match="!!python/object:collections.OrderedDict' is not allowed"):
        load_config(object_path)
    custom_path = write(tmp_path, "custom.yaml", "a: !shape [1, 2]\n")
    with pytest.raises(ConfigError, match="tag '!shape' is not allowed") as raised:
        load_config(custom_path)
    assert "can run code" not in raised.value.message


def test_duplicate_keys_are_refused(tmp_path):
    path = write(
        tmp_path,
        "duplicate.yaml",
        """
        agent:
          units: 64
          rounds: 5
          units: 32
        """,
    )
    with pytest.raises(ConfigError, match="duplicate key 'units': already defined at line 2") as raised:
        load_config(path)
    assert (raised.value.path, raised.value.line, raised.value.key_path) == (path, 4, "agent.units")
    top_path = write(tmp_path, "top_duplicate.yaml", "a: 1\nb: 2\na: 3\n")
    with pytest.raises(ConfigError, match=f"{top_path}:3: a: duplicate key 'a'"):
        load_config(top_path)


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("a:\n  on: 1\n", "expected a string key, found a boolean (True) written as 'on'", 2),
        ("a:\n  3: x\n", "expected a string key, found an integer (3)", 2),
        ("a:\n  null: x\n", "expected a string key, found null", 2),
        ("a:\n  layer.units: 1\n", "key 'layer.units' contains '.'", 2),
        ("x[0]: 1\n", "key 'x[0]' contains '['", 1),
        ("'a=b': 1\n", "key 'a=b' contains '='", 1),
        ("' a': 1\n", "leading or trailing spaces", 1),
        ("? [1, 2]\n: x\n", "expected a string key, found a list used as a key", 1),
    ],
)
def test_keys_must_be_addressable_strings(tmp_path, text, message, line):
    path = write(tmp_path, "keys.yaml", text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in raised.value.message
    assert (raised.value.path, raised.value.line) == (path, line)


# ------------------------------------------------------------------- bases


def test_base_files_deep_merge(tmp_path):
    base_path = write(
        tmp_path,
        "common/base.yaml",
        """
        agent:
          learning_rate: 0.01
          layers: [64, 64]
          network:
            type: graph_network
            rounds: 5
          schedule:
            warmup: 10
        env:
          graph: resnet18
        """,
    )
    path = write(
        tmp_path,
        "experiment.yaml",
        """
        base: common/base.yaml
        agent:
          layers: [8]
          network:
            rounds: 2
          schedule: constant
        seed: 3
        """,
    )
    config = load_config(path)
    assert config.data == {
        "agent": {
            "learning_rate": 0.01,
            "layers": [8],
            "network": {"type": "graph_network", "rounds": 2},
            "schedule": "constant",
        },
        "env": {"graph": "resnet18"},
        "seed": 3,
    }
    assert "base" not in config
    assert config.location("agent") == f"{path}:2"
    assert config.location("agent.learning_rate") == f"{base_path}:2"
    assert config.location("agent.network.type") == f"{base_path}:5"
    assert config.location("agent.network.rounds") == f"{path}:5"
    assert config.location("agent.layers[0]") == f"{path}:3"
    assert config.location("env.graph") == f"{base_path}:10"
    # The base's sub-keys of a replaced value are gone, with their locations.
    assert config.location("agent.schedule.warmup") == f"{path}:6"
    assert config.get("agent.schedule.warmup") is None


def test_list_of_bases_applies_in_order_and_nests(tmp_path):
    write(tmp_path, "root.yaml", "a: root\nb: root\nc: root\nd: root\n")
    first = write(tmp_path, "first.yaml", "base: root.yaml\nb: first\nc: first\n")
    second = write(tmp_path, "configs/second.yaml", "c: second\n")
    path = write(tmp_path, "top.yaml", "base:\n  - first.yaml\n  - configs/second.yaml\nd: top\n")
    config = load_config(path)
    assert config.data == {"a": "root", "b": "first", "c": "second", "d": "top"}
    assert config.location("a") == f"{tmp_path / 'root.yaml'}:1"
    assert config.location("b") == f"{first}:2"
    assert config.location("c") == f"{second}:1"
    assert config.location("d") == f"{path}:4"


def test_diamond_of_bases_is_not_a_cycle(tmp_path):
    write(tmp_path, "shared.yaml", "x: 1\n")
    write(tmp_path, "left.yaml", "base: shared.yaml\nleft: 2\n")
    write(tmp_path, "right.yaml", "base: shared.yaml\nright: 3\n")
    path = write(tmp_path, "top.yaml", "base: [left.yaml, right.yaml]\n")
    assert load_config(path).data == {"x": 1, "left": 2, "right": 3}


def test_missing_base_names_including_file_and_line(tmp_path):
    write(tmp_path, "present.yaml", "a: 1\n")
    path = write(tmp_path, "top.yaml", "agent: {}\nbase:\n  - present.yaml\n  - absent.yaml\n")
    with pytest.raises(ConfigError, match="base file 'absent.yaml' not found") as raised:
        load_config(path)
    error = raised.value
    assert (error.path, error.line, error.key_path) == (path, 4, "base[1]")
    assert str(tmp_path / "absent.yaml") in error.message


def test_error_in_base_file_names_the_base_file(tmp_path):
    base_path = write(tmp_path, "base.yaml", "a: 1\na: 2\n")
    path = write(tmp_path, "top.yaml", "base: base.yaml\n")
    with pytest.raises(ConfigError, match="duplicate key") as raised:
        load_config(path)
    assert (raised.value.path, raised.value.line) == (base_path, 2)


def test_base_cycle_lists_the_chain(tmp_path):
    first = write(tmp_path, "first.yaml", "base: second.yaml\na: 1\n")
    second = write(tmp_path, "second.yaml", "b: 2\nbase: [first.yaml]\n")
    with pytest.raises(ConfigError, match="base files form a cycle") as raised:
        load_config(first)
    error = raised.value
    assert f"{first} -> {second} -> {first}" in error.message
    assert (error.path, error.line, error.key_path) == (second, 2, "base[0]")

    itself = write(tmp_path, "itself.yaml", "base: ./itself.yaml\n")
    with pytest.raises(ConfigError, match=f"cycle: {itself} -> {itself}"):
        load_config(itself)


@pytest.mark.parametrize(
    "text, message, key_path",
    [
        ("base: 3\n", "expected a file name or a list of file names, found an integer (3)", "base"),
        ("base:\n", "expected a file name or a list of file names, found null", "base"),
        ("base: [a.yaml, {b: 1}]\n", "expected a file name (relative to", "base[1]"),
        ("base: ''\n", "expected a file name (relative to", "base"),
    ],
)
def test_base_value_must_name_files(tmp_path, text, message, key_path):
    path = write(tmp_path, "top.yaml", text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in raised.value.message
    assert (raised.value.path, raised.value.key_path) == (path, key_path)


# --------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3", 3),
        ("-7", -7),
        ("0.5", 0.5),
        ("3e-4", 0.0003),
        ("true", True),
        ("false", False),
        ("null", None),
        ("", None),
        ("[1,2]", [1, 2]),
        ("{units: 8, activation: relu}", {"units": 8, "activation": "relu"}),
        ("abc", "abc"),
        ("'3'", "3"),
        ("a=b", "a=b"),
        ("2024-01-02", datetime.date(2024, 1, 2)),
    ],
)
def test_override_values_are_typed_like_yaml(tmp_path, text, expected):
    config = load_config(write(tmp_path, "agent.yaml", AGENT_YAML), [f"agent.network.rounds={text}"])
    value = config.get("agent.network.rounds", "missing")
    assert value == expected and type(value) is type(expected)


def test_overrides_set_create_and_replace(tmp_path):
    path = write(tmp_path, "agent.yaml", AGENT_YAML)
    overrides = [
        "agent.policy.layers[1].units=16",
        "trainer.optimizer.name=adam",
        "env=small",
        "agent.network.rounds=2",
        "agent.network.rounds=9",
    ]
    config = load_config(path, overrides)
    expected = yaml.safe_load(textwrap.dedent(AGENT_YAML))
    expected["agent"]["learning_rate"] = 0.0003
    expected["agent"]["policy"]["layers"][1]["units"] = 16
    expected["trainer"] = {"optimizer": {"name": "adam"}}
    expected["env"] = "small"
    expected["agent"]["network"]["rounds"] = 9
    assert config.data == expected
    assert config.overrides == tuple(overrides)

    assert config.location("agent.policy.layers[1].units") == "command line override 'agent.policy.layers[1].units=16'"
    assert config.location("agent.policy.layers[1].activation") == f"{path}:8"
    assert config.location("trainer") == "command line override 'trainer.optimizer.name=adam'"
    assert config.location("trainer.optimizer.name") == "command line override 'trainer.optimizer.name=adam'"
    assert config.location("env.graph") == "command line override 'env=small'"
    assert config.location("agent.network.rounds") == "command line override 'agent.network.rounds=9'"
    assert config.location("agent.network") == f"{path}:9"

    error = config.error("trainer.optimizer.name", "unknown optimizer 'adam'")
    assert str(error) == (
        "command line override 'trainer.optimizer.name=adam': trainer.optimizer.name: unknown optimizer 'adam'"
    )
    assert (error.path, error.line, error.override) == (None, None, "trainer.optimizer.name=adam")


def test_override_with_container_value_locates_its_insides(tmp_path):
    override = "agent.policy.layers=[{units: 4}, {units: 2}]"
    config = load_config(write(tmp_path, "agent.yaml", AGENT_YAML), [override])
    assert config.get("agent.policy.layers") == [{"units": 4}, {"units": 2}]
    assert config.location("agent.policy.layers[1].units") == f"command line override {override!r}"


@pytest.mark.parametrize(
    "override, message",
    [
        ("agent.learning_rate", "expected the form 'key.path=value'"),
        ("=3", "expected a key path before '='"),
        ("agent..rate=3", "malformed key path 'agent..rate'"),
        ("agent.layers[one]=3", "malformed key path"),
        ("agent.network.type.name=x", "cannot set key 'name' inside 'agent.network.type': expected a mapping there, found a string ('graph_network')"),
        ("env.seed.value=1", "cannot set key 'value' inside 'env.seed': expected a mapping there, found null"),
        ("agent.policy.layers.first=1", "expected a mapping there, found a list of 2 items"),
        ("agent.network[0]=1", "cannot index 'agent.network' with [0]: expected a list there, found a mapping"),
        ("agent.policy.layers[2].units=1", "index [2] is out of range: 'agent.policy.layers' is a list of 2 items"),
        ("trainer.stages[0]=1", "'trainer.stages' does not exist, so it cannot be indexed with [0]"),
        ("base=other.yaml", "'base' cannot be overridden"),
        ("agent.units=[1, 2", "the value '[1, 2' is not valid: YAML syntax error"),
        ("agent.units={a: 1, a: 2}", "duplicate key 'a'"),
        ("agent.units=!!python/object/apply:os.getcwd []", "tag '!!python/object/apply:os.getcwd' is not allowed"),
    ],
)
def test_bad_overrides_name_the_override(tmp_path, override, message):
    path = write(tmp_path, "agent.yaml", AGENT_YAML)
    with pytest.raises(ConfigError) as raised:
        load_config(path, ["env.graph=vgg16", override])
    error = raised.value
    assert message in error.message
    assert error.override == override
    assert str(error).startswith(f"command line override {override!r}: ")


def test_override_error_says_where_the_blocking_value_was_set(tmp_path):
    path = write(tmp_path, "agent.yaml", AGENT_YAML)
    with pytest.raises(ConfigError, match=rf"\(set at {path}:10\)"):
        load_config(path, ["agent.network.type.name=x"])


# -------------------------------------------------------------------- save


def test_save_round_trip(tmp_path):
    write(tmp_path, "base.yaml", "shared:\n  stamp: 2024-01-02 03:04:05\n  tags: !!set {a, b}\n")
    path = write(tmp_path, "agent.yaml", "base: base.yaml\n" + textwrap.dedent(AGENT_YAML))
    config = load_config(path, ["agent.network.rounds=2", "extra.text='true'", "extra.empty=''"])
    run_dir = tmp_path / "runs" / "first"
    saved_path = config.save(run_dir)
    assert saved_path == str(run_dir / "config.yaml")
    assert os.listdir(run_dir) == ["config.yaml"]

    reloaded = load_config(saved_path)
    assert reloaded.data == config.data
    assert reloaded.get("extra.text") == "true" and reloaded.get("extra.empty") == ""
    assert reloaded.get("shared.stamp") == datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert reloaded.get("shared.tags") == {"a", "b"}
    assert reloaded.get("agent.network.rounds") == 2
    assert "base" not in reloaded
    assert reloaded.location("agent.network.rounds").startswith(f"{saved_path}:")
    # The saved file is plain YAML that any safe loader reads to the same data.
    with open(saved_path, encoding="utf-8") as stream:
        assert yaml.safe_load(stream) == config.data


def test_save_replaces_an_existing_file(tmp_path):
    run_dir = tmp_path / "run"
    load_config(write(tmp_path, "one.yaml", "a: 1\n")).save(run_dir)
    load_config(write(tmp_path, "two.yaml", "b: 2\n")).save(run_dir)
    assert load_config(run_dir / "config.yaml").data == {"b": 2}
    assert os.listdir(run_dir) == ["config.yaml"]


def test_save_into_a_file_instead_of_a_directory(tmp_path):
    config = load_config(write(tmp_path, "one.yaml", "a: 1\n"))
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot write the resolved config into run directory") as raised:
        config.save(blocker)
    assert raised.value.path == str(blocker / "config.yaml")
    assert blocker.read_text(encoding="utf-8") == "x"
