"""`python -m rlgraph_xflow.evaluate` (rlgraph_xflow.runs.graph_evaluation) on small graphs with known answers.

Run directories are built two ways: by the optimize pipeline itself (a tiny
Conv-BatchNorm-Gemm model, greedy search) and by hand around a 1x1
convolution, whose "optimized" graph is either an exact copy (its verdict
must be `same`) or the same convolution enlarged to 7x7 with zeros (the same
outputs at 49 times the work: `slower`). A MatMul model with 16 MiB of
weights is measured alone, and must take more memory than the convolution by
at least its weights. The TensorFlow runtime goes through
rlgraph_xflow.graphs.to_tensorflow (issue 20, part 1).
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rlgraph_xflow.graphs.latency import VERDICTS, LatencyProtocol
from rlgraph_xflow.graphs.peak_memory import RSS_GROWTH
from rlgraph_xflow.optimize.pipeline import ORIGINAL_MODEL_KEY, optimize, original_model_fields
from tests.script_helpers import run_main
from rlgraph_xflow.runs.graph_evaluation import EVALUATION_JSON, EVALUATION_MD, chart_file, main, resolve_input
from tests.test_optimize import tiny_model

CHANNELS, SIZE = 64, 40
# Enough rounds that one model against an exact copy of itself comes out `same` on a busy machine
# (an identical pair is `slower` only if every round puts the copy behind, and by more than 2% at the median).
PROTOCOL_OPTIONS = ["--latency-rounds", "7", "--latency-runs-per-round", "5"]
BIG_WEIGHTS_MIB = 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _save(model: onnx.ModelProto, path) -> str:
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def conv_model(path, kernel: int) -> str:
    """A 1x1 convolution (64 -> 64 channels), or the same one enlarged to kernel x kernel with zeros around it."""
    center = np.random.default_rng(0).standard_normal((CHANNELS, CHANNELS, 1, 1)).astype(np.float32)
    weight = np.zeros((CHANNELS, CHANNELS, kernel, kernel), np.float32)
    weight[:, :, kernel // 2, kernel // 2] = center[:, :, 0, 0]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[kernel // 2] * 4)], f"conv{kernel}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CHANNELS, SIZE, SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, CHANNELS, SIZE, SIZE])],
        initializer=[numpy_helper.from_array(weight, "w")])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def matmul_model(path, width: int) -> str:
    """x[1, width] @ W[width, width]: width 2048 holds 16 MiB of weights."""
    weight = np.random.default_rng(1).standard_normal((width, width)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        initializer=[numpy_helper.from_array(weight, "w")])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def hand_made_run_dir(folder, original_path: str, optimized_path: str, method_key: str, method: str) -> str:
    """A run directory as optimize writes one: optimized.onnx and a result.json naming the method and the original."""
    os.makedirs(folder)
    shutil.copyfile(optimized_path, os.path.join(folder, "optimized.onnx"))
    result = {"model": "conv", method_key: method, "verified": True, "exported": "optimized",
              ORIGINAL_MODEL_KEY: original_model_fields(original_path)}
    with open(os.path.join(folder, "result.json"), "w") as stream:
        json.dump(result, stream)
    return str(folder)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate_inputs")
    original = conv_model(root / "conv.onnx", 1)
    enlarged = conv_model(root / "conv_enlarged.onnx", 7)
    optimize_dir = root / "optimize_run"
    optimize(tiny_model(root / "tiny.onnx"), optimize_dir, search="greedy", cost_model="analytic",
             protocol=LatencyProtocol.fast(), allow_slower=True)
    return {
        "same": hand_made_run_dir(root / "same_run", original, original, "search", "greedy"),
        "enlarged": hand_made_run_dir(root / "enlarged_run", original, enlarged, "agent", "ppo"),
        "optimize": str(optimize_dir),
        "big": matmul_model(root / "big_weights.onnx", 2048),
    }





@pytest.fixture(scope="module")
def onnxruntime_evaluation(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    status = main([inputs["same"], inputs["enlarged"], inputs["optimize"], inputs["big"], "--out", str(out), *PROTOCOL_OPTIONS])
    assert status == 0
    with open(out / EVALUATION_JSON) as stream:
        return out, json.load(stream)


def entry_of(document, argument):
    return next(entry for entry in document["entries"] if entry["input"] == argument)


def test_a_graph_against_its_copy_is_same_and_the_enlarged_convolution_is_slower(inputs, onnxruntime_evaluation):
    out, document = onnxruntime_evaluation
    same = entry_of(document, inputs["same"])["runtimes"]["onnxruntime"]
    slower = entry_of(document, inputs["enlarged"])["runtimes"]["onnxruntime"]
    assert same["latency_verdict"] == "same", same
    assert slower["latency_verdict"] == "slower" and slower["latency_change"] > 2, slower
    # One original for both run directories: measured once, in the same rounds as both optimized graphs.
    assert same["original"] == slower["original"]
    for figures in (same, slower):
        assert figures["runtime_improvement"] == -figures["latency_change"]
        assert figures["max_abs_diff"] < 1e-3 and figures["latency_noise"] >= 0.02
        for side in ("original", "optimized"):
            low, high = figures[side]["band_ms"]
            assert low <= figures[side]["median_ms"] <= high and len(figures[side]["round_medians_ms"]) == 7
    assert same["max_abs_diff"] == 0.0
    assert slower["optimized"]["median_ms"] > 3 * slower["original"]["median_ms"]
    header = document["runtimes"]["onnxruntime"]
    assert header["name"] == "onnxruntime CPU" and header["protocol"] == LatencyProtocol(rounds=7, runs_per_round=5).describe()
    assert document["protocol"] == {"rounds": 7, "runs_per_round": 5, "warmup": 5, "min_noise": 0.02}


def test_methods_and_originals_come_from_the_run_directories(inputs, onnxruntime_evaluation):
    _, document = onnxruntime_evaluation
    assert entry_of(document, inputs["same"])["method"] == "greedy"
    assert entry_of(document, inputs["enlarged"])["method"] == "ppo"
    optimized = entry_of(document, inputs["optimize"])
    with open(os.path.join(inputs["optimize"], "result.json")) as stream:
        result = json.load(stream)
    # The optimize pipeline records how to rebuild its original: the file's absolute path and load settings.
    assert result[ORIGINAL_MODEL_KEY] == {"model": os.path.join(os.path.dirname(inputs["optimize"]), "tiny.onnx"), "batch_size": 1,
                                          "sequence_length": None, "symbolic_dims": {}, "graph_options": None}
    assert optimized["method"] == "greedy" and optimized["graph"] == "tiny" and optimized["original_model"] == result[ORIGINAL_MODEL_KEY]
    figures = optimized["runtimes"]["onnxruntime"]
    assert figures["latency_verdict"] in VERDICTS and figures["max_abs_diff"] < 1e-3
    big = entry_of(document, inputs["big"])
    assert big["method"] is None and big["graph"] == "big_weights" and big["runtimes"]["onnxruntime"]["optimized"] is None
    assert big["runtimes"]["onnxruntime"]["latency_verdict"] is None


def test_peak_memory_is_positive_and_grows_with_the_weights(inputs, onnxruntime_evaluation):
    _, document = onnxruntime_evaluation
    convolution = entry_of(document, inputs["same"])["runtimes"]["onnxruntime"]
    big = entry_of(document, inputs["big"])["runtimes"]["onnxruntime"]["original"]
    for figures in (convolution["original"], convolution["optimized"], big):
        assert figures["peak_memory_mib"] > 0 and figures["memory_measure"] == RSS_GROWTH
    # 16 MiB of weights: onnxruntime holds them at least once (the 1x1 convolution's weights are 16 KiB).
    assert big["peak_memory_mib"] > convolution["original"]["peak_memory_mib"] + 0.75 * BIG_WEIGHTS_MIB
    assert document["runtimes"]["onnxruntime"]["memory_measures"] == [RSS_GROWTH]


def test_markdown_chart_and_printed_lines(inputs, onnxruntime_evaluation):
    out, document = onnxruntime_evaluation
    markdown = (out / EVALUATION_MD).read_text()
    slower = entry_of(document, inputs["enlarged"])["runtimes"]["onnxruntime"]
    assert "## onnxruntime CPU" in markdown and f"Timing: {document['runtimes']['onnxruntime']['protocol']}." in markdown
    assert f"| conv | ppo | {slower['original']['median_ms']:.3f} " in markdown
    assert f"{100 * slower['latency_change']:+.1f}% ± {100 * slower['latency_noise']:.1f}% | slower |" in markdown
    assert "| big_weights | (original only) |" in markdown
    assert f"![relative runtime improvement in onnxruntime CPU]({chart_file('onnxruntime')})" in markdown
    assert (out / chart_file("onnxruntime")).read_bytes().startswith(PNG_SIGNATURE)
    lines = document["lines"]
    assert lines[0].startswith("onnxruntime CPU: timed with onnxruntime CPU, spinning off, 7 alternating rounds x 5 runs")
    assert any(line.startswith("conv ppo: onnxruntime CPU latency ") and "slower); peak memory " in line for line in lines)
    assert any(line.startswith("big_weights (original only): onnxruntime CPU latency ") for line in lines)


def test_resolve_input_reads_an_agent_run_from_before_original_model_was_recorded(tmp_path):
    run_dir = tmp_path / "old_run"
    run_dir.mkdir()
    (run_dir / "optimized.onnx").write_bytes(b"")
    (run_dir / "result.json").write_text(json.dumps({"model": "bert_base", "agent": "world_model", "exported": "optimized"}))
    (run_dir / "config.yaml").write_text("agent: {type: world_model}\nenv: {type: xflow, graph: bert_base, sequence_length: 16,"
                                         " graph_options: {layers: 2}}\n")
    resolved = resolve_input(str(run_dir))
    assert (resolved.graph, resolved.method, resolved.exported) == ("bert_base", "world_model", "optimized")
    assert resolved.original_model == {"model": "bert_base", "batch_size": 1, "sequence_length": 16, "symbolic_dims": {},
                                       "graph_options": {"layers": 2}}
    zoo_name = resolve_input("resnet18")
    assert zoo_name.method is None and zoo_name.optimized_path is None and zoo_name.original_model["model"] == "resnet18"


def _bad_inputs(tmp_path, inputs):
    unverified = tmp_path / "unverified_run"
    unverified.mkdir()
    (unverified / "result.json").write_text(json.dumps({"model": "conv", "search": "greedy", "verified": False,
                                                        "error": "verification failed: output 'y' differs"}))
    no_result = tmp_path / "no_result"
    no_result.mkdir()
    (no_result / "optimized.onnx").write_bytes(b"")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    return [
        ([str(tmp_path / "missing_run")], "is neither a run directory, an .onnx file nor a zoo model: no such file or directory"),
        ([str(unverified)], "has no optimized.onnx: its result.json says verified: false (verification failed: output 'y' differs)"),
        ([str(no_result)], "has no result.json: expected the --out folder of python -m rlgraph_xflow.run"),
        ([str(text_file)], "is a file but not an .onnx model"),
        (["resnet81"], "did you mean 'resnet18'?"),
        ([inputs["same"], "--runtime", "tensorrt"], "argument --runtime: invalid choice: 'tensorrt'"),
        ([inputs["same"], "--latency-rounds", "2"], "--latency-rounds must be an int >= 3"),
        ([inputs["same"], "--latency-rounds", "two"], "--latency-rounds expects an integer >= 1, found 'two'"),
        (["squeezenet1_1", "--sequence-length", "16"], "--sequence-length applies to the zoo model bert_base only"),
    ]


def test_bad_input_gets_one_line_and_exit_status_2(tmp_path, inputs, capsys):
    for arguments, message in _bad_inputs(tmp_path, inputs):
        out = tmp_path / "out"
        status, printed, error = run_main(main, capsys, *arguments, "--out", out)
        assert status == 2, (arguments, printed, error)
        assert printed == "" and error.count("\n") == 1 and error.startswith("error: ") and message in error, (arguments, error)
        assert not (out / EVALUATION_JSON).exists()


# Each model's memory child imports TensorFlow and onnx-tf afresh (about 30 s a child on this 2-core machine at a
# load average of 7; the whole test took 97 s there): too much for `make test`, so it runs in `make test-long`.
@pytest.mark.long
def test_tensorflow_runtime(inputs, tmp_path, capsys):
    out = tmp_path / "tensorflow"
    status, printed, error = run_main(main, capsys, inputs["enlarged"], "--runtime", "tensorflow", "--out", out,
                                      "--latency-rounds", "5", "--latency-runs-per-round", "3")
    assert status == 0, error
    document = json.loads((out / EVALUATION_JSON).read_text())
    assert list(document["runtimes"]) == ["tensorflow"]
    header = document["runtimes"]["tensorflow"]
    assert header["name"] in ("tensorflow CPU", "tensorflow GPU") and header["protocol"].startswith(header["name"])
    slower = entry_of(document, inputs["enlarged"])["runtimes"]["tensorflow"]
    assert slower["latency_verdict"] == "slower" and slower["max_abs_diff"] < 1e-3
    for figures in (slower["original"], slower["optimized"]):
        assert figures["peak_memory_mib"] > 0
        assert figures["memory_measure"] == RSS_GROWTH or figures["memory_measure"].startswith("tensorflow allocator peak on GPU")
    assert (out / chart_file("tensorflow")).read_bytes().startswith(PNG_SIGNATURE)
    assert any(line.startswith("conv ppo: tensorflow ") and "slower); peak memory " in line for line in printed.splitlines())
