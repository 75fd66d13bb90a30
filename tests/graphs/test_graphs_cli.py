"""`python -m rlgraph_xflow.graphs stats|export` end to end, in subprocesses."""
import json
import os
import subprocess
import sys

import onnx
import pytest

from rlgraph_xflow.graphs import zoo

KEYS = ["name", "num_ops", "num_op_types", "num_opaque", "runtime_ms", "flops", "mem_access_bytes", "kernel_launches"]


def graphs_cli(*arguments, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "rlgraph_xflow.graphs", *map(str, arguments)],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("name", zoo.names())
def test_stats_json_for_every_zoo_model(name):
    # The analytic model: what is checked here is the graph statistics, and
    # measuring every zoo model's kernels would cost the suite a minute.
    result = graphs_cli("stats", name, "--json", "--cost-model", "analytic")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert list(row) == KEYS
    model = zoo.build(name)
    # Every ONNX node is one op; the builders emit no Constant nodes.
    assert row["num_ops"] == len(model.graph.node)
    assert row["num_op_types"] == len({node.op_type for node in model.graph.node})
    assert row["num_opaque"] == 0
    assert row["runtime_ms"] > 0 and row["flops"] > 0 and row["mem_access_bytes"] > 0
    assert 0 < row["kernel_launches"] <= row["num_ops"]


def test_stats_table_and_resnet50_flops():
    result = graphs_cli("stats", "resnet50", "--cost-model", "analytic", "--device", "v100")
    assert result.returncode == 0, result.stderr
    assert "Graph resnet50 (estimate of the analytic roofline for device profile v100)" in result.stdout
    # ResNet-50 at 224x224 is about 4.1 G multiply-accumulates: 8.2 GFLOPs.
    flops_line = next(line for line in result.stdout.splitlines() if "FLOPs (G)" in line)
    assert 8.0 < float(flops_line.split()[-1]) < 8.4


def test_keras_export_then_stats(tmp_path):
    path = tmp_path / "mobilenet_v2.onnx"
    result = graphs_cli("export", "keras:MobileNetV2", "--input-size", "96", "--out", path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    model = onnx.load(str(path))
    result = graphs_cli("stats", path, "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["name"] == "mobilenet_v2"
    assert row["num_ops"] == len(model.graph.node)
    assert row["num_opaque"] == 0


def test_stats_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from rlgraph_xflow.graphs.__main__ import main\n"
        "main(['stats', 'squeezenet1_1', '--json'])\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_measured_stats_measure_once_then_hit_the_cache(tmp_path):
    env = {"RLGRAPH_XFLOW_CACHE_DIR": str(tmp_path / "cache")}
    first = graphs_cli("stats", "squeezenet1_1", "--cost-model", "measured", "--json", env_extra=env)
    assert first.returncode == 0, first.stderr
    cache_files = list((tmp_path / "cache").rglob("*.json"))
    assert len(cache_files) == 1
    stamp = cache_files[0].stat().st_mtime_ns
    second = graphs_cli("stats", "squeezenet1_1", "--cost-model", "measured", "--json", env_extra=env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["runtime_ms"] == json.loads(first.stdout)["runtime_ms"]
    assert cache_files[0].stat().st_mtime_ns == stamp, "a fully cached run must not rewrite the cache"


@pytest.mark.parametrize("arguments, message", [
    (["stats", "resnet5"], "'resnet5' is neither a zoo model (did you mean 'resnet50'?)"),
    (["stats", "missing.onnx"], "missing.onnx"),
    (["stats", "resnet18", "--sequence-length", "8"], "--sequence-length applies to bert_base only"),
    (["stats", "resnet18", "--device", "tpu9"], "no kernel table for device 'tpu9'"),
    (["stats", "resnet18", "--cost-model", "analytic", "--device", "tpu9"], "unknown device 'tpu9' for the analytic cost model"),
    (["stats", "resnet18", "--device", "h100"], "use --cost-model analytic --device h100"),
    (["stats", "resnet18", "--cost-table", "no_such_table.json"], "cost table file 'no_such_table.json' does not exist"),
])
def test_bad_input_fails_with_one_clear_line(arguments, message):
    result = graphs_cli(*arguments)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_not_onnx_file_and_bad_dim(tmp_path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"\x00\x01 definitely not protobuf")
    result = graphs_cli("stats", bogus)
    assert result.returncode == 2 and str(bogus) in result.stderr and "Traceback" not in result.stderr
    path = tmp_path / "model.onnx"
    onnx.save(zoo.build("squeezenet1_1"), str(path))
    result = graphs_cli("stats", path, "--dim", "batch")
    assert result.returncode == 2 and "--dim expects NAME=POSITIVE_INT" in result.stderr
