"""benchmarks/chapter4.py: the chapter-4 experiment's commands, saved results, table and last line.

The script is imported from its path (benchmarks/ is not a package). The
tests in `make test` exercise its pure parts in a second or two: argument
errors, the commands it builds, saving and skipping runs (through real
subprocesses that stand in for the CLIs' exit statuses and files), and the
table and last line from saved evaluations in the evaluate command's format.
The end-to-end `--quick` run (real CLIs: two searches, two agents and the
evaluation in both runtimes on squeezenet1_1) takes minutes: `make test-long`.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.script_helpers import REPO_ROOT as ROOT, load_benchmark

_SCRIPT = os.path.join(ROOT, "benchmarks", "chapter4.py")


chapter4 = load_benchmark("chapter4")


# Arguments ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["--graphs", "vgg16"], "argument --graphs: unknown 'vgg16'"),
    (["--graphs", "resnet"], "did you mean"),
    (["--seeds", "-1"], "argument --seeds: expected integers >= 0, found '-1'"),
    (["--seeds", "one"], "argument --seeds: expected integers >= 0, found 'one'"),
    (["--methods", "tasso"], "argument --methods: unknown 'tasso'"),
    (["--quick", "--graphs", "resnet18"], "--quick runs squeezenet1_1 only"),
    (["--cost-model", "guess"], "invalid choice: 'guess'"),
])
def test_a_bad_argument_is_one_error_line_and_exit_status_2(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        chapter4.main([*arguments, "--work-dir", str(tmp_path / "work")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "work").exists()


def test_a_work_dir_of_other_settings_or_not_a_folder_is_refused(tmp_path, capsys):
    work = tmp_path / "work"
    assert chapter4.main(["--quick", "--no-run", "--work-dir", str(work)]) == 0
    capsys.readouterr()
    settings_path = work / "quick-measured" / chapter4.SETTINGS_FILE
    saved = json.loads(settings_path.read_text())
    saved["backtracking_budget"] = 99
    settings_path.write_text(json.dumps(saved))
    assert chapter4.main(["--quick", "--no-run", "--work-dir", str(work)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "holds results of other settings (differing: backtracking_budget)" in lines[0], lines
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert chapter4.main(["--no-run", "--work-dir", str(not_a_folder)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --work-dir"), lines


def test_defaults_and_the_order_of_methods():
    arguments = chapter4.parse_arguments([])
    assert arguments.graphs == list(chapter4.GRAPHS) and arguments.seeds == [0, 1, 2]
    # PPO runs before backtracking, which takes the PPO run's seconds as its time limit.
    assert arguments.methods == ["greedy", "ppo", "backtracking", "world_model"]
    quick = chapter4.parse_arguments(["--quick", "--seeds", "3", "3", "1"])
    assert quick.graphs == ["squeezenet1_1"] and quick.seeds == [3, 1]


# Commands ----------------------------------------------------------------------------------------

def test_commands_of_the_four_methods():
    settings = chapter4.full_settings("measured")
    greedy = chapter4.method_command(settings, "bert_base", "greedy", 2, "OUT")
    assert greedy[1:5] == ["-m", "rlgraph_xflow.optimize", "bert_base", "--search"] and "greedy" in greedy
    # The searches optimize the graph the agents' config declares (bert_base at sequence length 64).
    assert greedy[greedy.index("--sequence-length") + 1] == "64"
    assert greedy[greedy.index("--cost-model") + 1] == "measured" and greedy[greedy.index("--device") + 1] == "local"
    assert greedy[greedy.index("--seed") + 1] == "2" and greedy[-2:] == ["--out", "OUT"]
    backtracking = chapter4.method_command(settings, "resnet18", "backtracking", 0, "OUT", time_limit_seconds=123.44)
    for option, value in (("--alpha", "1.05"), ("--budget", "8000"), ("--time-limit", "123.4")):
        assert backtracking[backtracking.index(option) + 1] == value
    assert "--sequence-length" not in backtracking
    assert "--time-limit" not in chapter4.method_command(settings, "resnet18", "backtracking", 0, "OUT")
    ppo = chapter4.method_command(settings, "inception_v3", "ppo", 1, "OUT")
    assert ppo[1:4] == ["-m", "rlgraph_xflow.run", os.path.join(ROOT, "configs", "ppo_inception.yaml")]
    assert {"seed=1", "env.cost_model=measured", "env.device=local", "export.latency_rounds=7"} <= set(ppo)
    world_model = chapter4.method_command(chapter4.quick_settings("analytic"), "bert_base", "world_model", 0, "OUT")
    assert world_model[3] == os.path.join(ROOT, "configs", "world_model_bert.yaml")
    assert {"env.cost_model=analytic", "env.device=h100", "training.total_env_steps=8"} <= set(world_model)
    # --quick shortens a config's pretraining too (ppo_bert pretrains; world_model_bert does not).
    assert "training.pretraining.total_env_steps=8" in chapter4.method_command(chapter4.quick_settings(), "bert_base", "ppo", 0, "O")
    assert "training.pretraining.total_env_steps=8" not in world_model


# Saving and skipping runs ------------------------------------------------------------------------

# Stands in for a CLI: writes what a successful run leaves in its --out (result.json, optimized.onnx), or fails the
# way the CLIs do (an `error:` line, exit status 3).
_FAKE_CLI = """
import json, os, sys
out, outcome = sys.argv[1], sys.argv[2]
print("some progress")
if outcome == "fail":
    print("error: verification failed at rule fuse_conv_relu", file=sys.stderr)
    sys.exit(3)
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "optimized.onnx"), "wb").close()
json.dump({"cost_model": "measured", "device": "local", "train_seconds": 41.0, "pretraining_seconds": 2.0,
           "sampled_evaluation_seconds": 1.5}, open(os.path.join(out, "result.json"), "w"))
"""


class _FakeRunner:
    """Runs the stand-in CLI in a subprocess for each command; remembers the commands it was given."""

    def __init__(self, failing=()):
        self.commands = []
        self.failing = set(failing)

    def __call__(self, command, log_path):
        self.commands.append(list(command))
        out = command[command.index("--out") + 1]
        method = "ppo" if "rlgraph_xflow.run" in command else command[command.index("--search") + 1]
        return chapter4.execute([sys.executable, "-c", _FAKE_CLI, out, "fail" if method in self.failing else "ok"], log_path)


def test_a_saved_run_is_skipped_and_a_failure_is_recorded_in_one_line(tmp_path):
    settings = chapter4.full_settings()
    folder = chapter4.prepare_setting_folder(str(tmp_path), settings)
    runner, said = _FakeRunner(failing={"greedy"}), []
    greedy = chapter4.run_method(settings, folder, "resnet18", "greedy", 0, runner=runner, say=said.append)
    ppo = chapter4.run_method(settings, folder, "resnet18", "ppo", 0, runner=runner, say=said.append)
    backtracking = chapter4.run_method(settings, folder, "resnet18", "backtracking", 0, runner=runner, say=said.append)
    assert greedy["status"] == "failed" and greedy["exit_status"] == 3
    assert greedy["failure"] == "exit status 3: error: verification failed at rule fuse_conv_relu"
    assert sum("FAILED, exit status 3: error: verification failed" in line for line in said) == 1
    # The rest continued; backtracking got the same seed's PPO seconds (pretraining + training + sampled evaluation).
    assert ppo["status"] == "ok" and ppo["result"]["train_seconds"] == 41.0
    assert backtracking["status"] == "ok" and backtracking["time_limit_seconds"] == 44.5
    assert backtracking["command"][backtracking["command"].index("--time-limit") + 1] == "44.5"
    saved = json.loads((tmp_path / "measured" / "resnet18" / "ppo" / "seed0" / "record.json").read_text())
    assert saved == ppo and os.path.isfile(tmp_path / "measured" / "resnet18" / "ppo" / "seed0" / "run.log")

    # A second invocation runs nothing: the saved run and the recorded failure are both skipped...
    runs_before, said[:] = len(runner.commands), []
    for method in ("greedy", "ppo", "backtracking"):
        chapter4.run_method(settings, folder, "resnet18", method, 0, runner=runner, say=said.append)
    assert len(runner.commands) == runs_before
    assert said[0].startswith("resnet18 greedy seed 0: skipped, failed before (exit status 3")
    assert said[1:] == ["resnet18 ppo seed 0: skipped, saved", "resnet18 backtracking seed 0: skipped, saved"]
    # ...until --retry-failed, which reruns the failure only.
    runner.failing.clear()
    retried = chapter4.run_method(settings, folder, "resnet18", "greedy", 0, retry_failed=True, runner=runner, say=said.append)
    assert retried["status"] == "ok" and len(runner.commands) == runs_before + 1
    assert chapter4.run_method(settings, folder, "resnet18", "ppo", 0, retry_failed=True, runner=runner, say=said.append) == ppo
    assert len(runner.commands) == runs_before + 1


def test_a_folder_another_live_process_runs_is_skipped(tmp_path):
    settings = chapter4.full_settings()
    folder = chapter4.prepare_setting_folder(str(tmp_path), settings)
    run_folder = chapter4.run_folder(folder, "resnet50", "greedy", 1)
    os.makedirs(run_folder)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(os.path.join(run_folder, chapter4.LOCK_FILE), "w") as stream:
            json.dump({"pid": sleeper.pid, "host": chapter4.socket.gethostname()}, stream)
        runner, said = _FakeRunner(), []
        assert chapter4.run_method(settings, folder, "resnet50", "greedy", 1, runner=runner, say=said.append) is None
        assert said == [f"resnet50 greedy seed 1: skipped, process {sleeper.pid} is running it"] and not runner.commands
    finally:
        sleeper.kill()
        sleeper.wait()
    # The holder is gone: its lock is stale and the run goes ahead.
    assert chapter4.run_method(settings, folder, "resnet50", "greedy", 1, runner=runner, say=said.append)["status"] == "ok"
    assert not os.path.exists(os.path.join(run_folder, chapter4.LOCK_FILE))


# The table ---------------------------------------------------------------------------------------

def _runtime_figures(original_ms, optimized_ms, improvement, noise, verdict, original_mib, optimized_mib):
    """One runtime's figures of an evaluation.json entry, as rlgraph_xflow.runs.graph_evaluation writes them."""
    def side(median, mib):
        return {"median_ms": median, "band_ms": [median - 0.25, median + 0.5], "round_medians_ms": [median] * 3,
                "peak_memory_mib": mib, "memory_measure": "peak RSS growth", "rss_growth_mib": mib}

    return {"original": side(original_ms, original_mib), "optimized": side(optimized_ms, optimized_mib),
            "latency_change": -improvement, "latency_noise": noise, "latency_verdict": verdict,
            "runtime_improvement": improvement, "memory_change": optimized_mib / original_mib - 1, "max_abs_diff": 0.0}


def _save_evaluated_run(folder, graph, method, seed, tensorflow, onnxruntime, evaluation_dir, exported="optimized"):
    run_folder = chapter4.run_folder(folder, graph, method, seed)
    os.makedirs(os.path.join(run_folder, "run"), exist_ok=True)
    chapter4._write_json(os.path.join(run_folder, chapter4.RECORD_FILE), {
        "graph": graph, "method": method, "seed": seed, "status": "ok", "failure": None,
        "result": {"cost_model": "measured", "device": "local"}})
    headers = {"tensorflow": {"name": "tensorflow CPU", "protocol": "tensorflow CPU through onnx-tf, 7 x 10",
                              "memory_measures": ["peak RSS growth"], "chart": None},
               "onnxruntime": {"name": "onnxruntime CPU", "protocol": "onnxruntime CPU, spinning off, 7 x 10",
                               "memory_measures": ["peak RSS growth"], "chart": None}}
    entry = {"input": run_folder, "graph": graph, "method": method, "run_dir": os.path.join(run_folder, "run"),
             "exported": exported, "runtimes": {"tensorflow": tensorflow, "onnxruntime": onnxruntime}}
    chapter4._write_json(os.path.join(run_folder, chapter4.EVALUATION_FILE),
                         {"evaluation_dir": evaluation_dir, "protocol": {}, "runtimes": headers, "entry": entry})


def test_the_table_and_last_line_are_the_medians_of_the_saved_evaluations(tmp_path, capsys):
    settings = chapter4.full_settings()
    folder = chapter4.prepare_setting_folder(str(tmp_path), settings)
    # squeezenet1_1: greedy and ppo on seeds 0-2 (one evaluate command per seed), world_model's run failed.
    improvements = {"greedy": [0.05, 0.01, 0.03], "ppo": [-0.02, 0.10, 0.04]}
    for method, values in improvements.items():
        for seed, improvement in enumerate(values):
            verdict = "faster" if improvement > 0.02 else "same"
            _save_evaluated_run(folder, "squeezenet1_1", method, seed,
                                _runtime_figures(9.5 + seed, 9.5 + seed - improvement, improvement, 0.02, verdict, 100.0, 98.0 + seed),
                                _runtime_figures(2.3, 2.3, 0.0, 0.02, "same", 40.0, 40.0), f"evaluations/{seed}",
                                exported="original" if (method, seed) == ("ppo", 0) else "optimized")
    world_model = chapter4.run_folder(folder, "squeezenet1_1", "world_model", 0)
    os.makedirs(world_model)
    chapter4._write_json(os.path.join(world_model, chapter4.RECORD_FILE),
                         {"status": "failed", "failure": "exit status 3: error: verification failed"})

    arguments = ["--no-run", "--work-dir", str(tmp_path), "--graphs", "squeezenet1_1", "resnet18"]
    assert chapter4.main(arguments) == 0
    out = capsys.readouterr().out.strip().splitlines()
    document = json.loads((tmp_path / "measured" / "chapter4.json").read_text())
    # Medians over the seeds: greedy 3%, ppo 4%; memory 100 -> 99 MiB at the median (+1%); nothing for resnet18.
    assert out[-1] == ("chapter4 squeezenet1_1=greedy:3.00/1.00,backtracking:n/a/n/a,ppo:4.00/1.00,world_model:n/a/n/a "
                       "resnet18=greedy:n/a/n/a,backtracking:n/a/n/a,ppo:n/a/n/a,world_model:n/a/n/a")
    assert document["last_line"] == out[-1]
    tensorflow = document["runtimes"]["tensorflow"]["rows"]["squeezenet1_1"]
    assert tensorflow["baseline"] == {"median_ms": 10.5, "band_ms": [9.25, 12.0],
                                      "peak_memory_mib": 100.0, "evaluations": 3}
    assert tensorflow["methods"]["greedy"]["verdicts"] == {"faster": 2, "same": 1}
    assert tensorflow["methods"]["ppo"]["exported_original"] == 1 and tensorflow["methods"]["world_model"] is None
    assert tensorflow["dissertation"] == {"baseline_ms": 4.6, "baseline_gib": 1.14, "time_pct": 18.9, "memory_pct": 1.8}
    # Table 4.2's layout: TensorFlow first, a row per graph evaluated, two columns per method and the dissertation's.
    tensorflow_at, onnxruntime_at = out.index("## tensorflow CPU"), out.index("## onnxruntime CPU")
    assert tensorflow_at < onnxruntime_at
    header = out[tensorflow_at + 3]
    for method in chapter4.METHODS:
        assert f"| {method} time | {method} memory |" in header
    assert "dissertation MB-RL" in header
    row = out[tensorflow_at + 5]
    assert row.startswith("| squeezenet1_1 | 10.500 (9.250-12.000) | 100.0 | +3.0% ±2.0 (faster 2, same 1) | +1.0% | n/a | n/a |")
    assert "+4.0% ±2.0 (faster 2, same 1; 1 exported the original)" in row and row.endswith("| +18.9% / +1.8% (4.6 ms, 1.14 GiB) |")
    assert "measured local" in out[1]
    assert "failed: squeezenet1_1 world_model seed 0: run failed, exit status 3: error: verification failed" in out
    assert "missing: resnet18 greedy seed 0: not run" in out


def test_the_dissertation_figures_are_table_4_2s():
    # Table 4.2 (time %, memory %): ResNet18 3.0/1.1, ResNet50 1.0/0.6, InceptionV3 12.5/2.3, SqueezeNet1.1 18.9/1.8,
    # BERT 54.1/4.5; baselines in TensorFlow 12.2 ms 1.18 GiB, 26.7/2.34, 17.6/2.11, 4.6/1.14, 4.1/0.26.
    table = {graph: (row.baseline_ms, row.baseline_gib, row.time_pct, row.memory_pct)
             for graph, row in chapter4.DISSERTATION_TABLE_4_2.items()}
    assert table == {"resnet18": (12.2, 1.18, 3.0, 1.1), "resnet50": (26.7, 2.34, 1.0, 0.6),
                     "inception_v3": (17.6, 2.11, 12.5, 2.3), "squeezenet1_1": (4.6, 1.14, 18.9, 1.8),
                     "bert_base": (4.1, 0.26, 54.1, 4.5)}
    assert set(table) == set(chapter4.GRAPHS)


# End to end --------------------------------------------------------------------------------------

_LAST_LINE = re.compile(r"^chapter4 squeezenet1_1=greedy:(\S+)/(\S+),backtracking:(\S+)/(\S+),ppo:(\S+)/(\S+),"
                        r"world_model:(\S+)/(\S+)$")


def _run_quick(work):
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, _SCRIPT, "--quick", "--work-dir", str(work)], capture_output=True, text=True,
                               cwd=ROOT, timeout=1800)
    return completed, time.perf_counter() - start


@pytest.mark.long
def test_quick_runs_every_method_evaluates_both_runtimes_and_a_second_run_skips_it_all(tmp_path):
    work = tmp_path / "work"
    first, first_seconds = _run_quick(work)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    lines = first.stdout.strip().splitlines()
    match = _LAST_LINE.match(lines[-1])
    assert match, lines[-1]
    assert "n/a" not in match.groups(), first.stdout
    assert not [line for line in lines if line.startswith(("failed:", "missing:"))], first.stdout
    for runtime in ("## tensorflow ", "## onnxruntime "):
        assert any(line.startswith(runtime) for line in lines), first.stdout
    rows = [line for line in lines if line.startswith("| squeezenet1_1 |")]
    assert len(rows) == 2 and all(line.count(" ±") == 4 for line in rows), rows
    # The printed figures are the saved evaluations' (one seed: the median is that seed's figure).
    setting = work / "quick-measured"
    for index, method in enumerate(("greedy", "backtracking", "ppo", "world_model")):
        saved = json.loads((setting / "squeezenet1_1" / method / "seed0" / "evaluation.json").read_text())
        figures = saved["entry"]["runtimes"]["tensorflow"]
        assert match.group(2 * index + 1) == f"{100 * figures['runtime_improvement']:.2f}"
        assert match.group(2 * index + 2) == f"{-100 * figures['memory_change']:.2f}"
        record = json.loads((setting / "squeezenet1_1" / method / "seed0" / "record.json").read_text())
        assert record["status"] == "ok" and record["result"]["cost_model"] == "measured"
    backtracking = json.loads((setting / "squeezenet1_1" / "backtracking" / "seed0" / "record.json").read_text())
    assert backtracking["time_limit_seconds"] > 0 and backtracking["result"]["budget"] == chapter4.QUICK_BACKTRACKING_BUDGET
    document = json.loads((setting / "chapter4.json").read_text())
    assert document["last_line"] == lines[-1] and document["settings"]["quick"] is True

    second, second_seconds = _run_quick(work)
    assert second.returncode == 0, second.stderr[-3000:]
    second_lines = second.stdout.strip().splitlines()
    assert second_lines[-1] == lines[-1]
    assert sum(line.endswith(": skipped, saved") for line in second_lines) == 4
    assert not any("evaluating" in line or "running" in line for line in second_lines)
    assert second_seconds < first_seconds / 4
