"""write_report on synthetic runs: images, report.md content, determinism, empty metrics, bad input."""
import math
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from rlgraph_xflow.reporting import (
    ENV_STEPS_COLUMN,
    EPISODE_FINAL_COST_COLUMN,
    EPISODE_REWARD_COLUMN,
    ReportError,
    write_report,
)
from rlgraph_xflow.core.metrics_log import MetricsLog

COLUMNS = [ENV_STEPS_COLUMN, EPISODE_REWARD_COLUMN, EPISODE_FINAL_COST_COLUMN, "policy_loss"]
XFER_NAMES = ["fuse_conv_bn", "merge_gemm", "unused_rule", "fuse_conv_relu"]
APPLIED_PER_EPISODE = [[0, 0, 3], [0, 3], [1, 0, 0, 0]]
RESULT = {
    "model": "resnet18",
    "agent": "ppo",
    "initial_cost_ms": 12.5,
    "final_cost_ms": 9.375,
    "cost_reduction": 0.25,
    "applied": ["fuse_conv_bn", "fuse_conv_relu", "fuse_conv_bn"],
    "verified": True,
    "max_abs_diff": 1.25e-6,
    "cost_model": "analytic",
    "device": "h100",
    "latency_ms_original": 4.0,
    "latency_ms_optimized": 3.0,
    "latency_change": -0.25,
    "latency_noise": 0.03,
    "latency_verdict": "faster",
    "latency_protocol": "onnxruntime CPU, spinning off, 7 alternating rounds x 10 runs after 5 warm-up, median of round medians, noise floor 2%",
    "export_note": None,
    "env_steps": 2400,
    "train_seconds": 321.5,
}


def _write_metrics(path, episodes=60, seed=0):
    generator = np.random.default_rng(seed)
    log = MetricsLog(path, COLUMNS)
    for episode in range(episodes):
        log.append({
            ENV_STEPS_COLUMN: 40 * (episode + 1),
            EPISODE_REWARD_COLUMN: 0.05 * episode + generator.normal(0.0, 0.3),
            EPISODE_FINAL_COST_COLUMN: 12.5 - 0.05 * episode + generator.normal(0.0, 0.2),
            "policy_loss": generator.normal(),
        })
    return path


def _assert_sensible_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        assert image.width > 200 and image.height > 200
        pixels = np.asarray(image.convert("RGB"))
    distinct_colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(distinct_colours) > 10, f"{path} is nearly a flat colour"
    # Something is drawn on the white background: not just a frame.
    assert (pixels.min(axis=2) < 200).mean() > 0.01


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    metrics = _write_metrics(run_dir / "metrics.csv")
    report_path = write_report(run_dir, metrics, RESULT, XFER_NAMES, APPLIED_PER_EPISODE, "PPO on ResNet18")
    return run_dir, report_path


def test_report_writes_the_three_images_and_links_them(full_report):
    run_dir, report_path = full_report
    assert report_path == str(run_dir / "report.md")
    markdown = (run_dir / "report.md").read_text()
    links = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", markdown)
    assert links == ["reward_curve.png", "cost_curve.png", "xfer_heatmap.png"]
    for link in links:
        _assert_sensible_png(run_dir / link)


def test_report_shows_the_result_figures(full_report):
    run_dir, _ = full_report
    markdown = (run_dir / "report.md").read_text()
    # Real latency first, the estimate second, named as one with its cost model and device.
    assert markdown.startswith(
        "# PPO on ResNet18\n\n"
        "**Real latency:** onnxruntime CPU latency 4.000 -> 3.000 ms (-25.0% ± 3.0%, faster); measured with onnxruntime CPU, "
        "spinning off, 7 alternating rounds x 10 runs after 5 warm-up, median of round medians, noise floor 2%.\n\n"
        "**Estimated cost** (an estimate by the analytic cost model, device h100, not a measurement): 12.5 ms -> 9.375 ms (-25.0%).\n\n"
        "## Result\n"
    )
    for row in (
        "| Model | resnet18 |",
        "| Agent | ppo |",
        "| Initial cost (estimated) | 12.5 ms |",
        "| Final cost (estimated) | 9.375 ms |",
        "| Cost reduction | 25.00 % |",  # (12.5 - 9.375) / 12.5
        "| Verified in onnxruntime | yes |",
        "| Largest absolute output difference | 1.250e-06 |",
        "| onnxruntime latency, original | 4 ms |",
        "| onnxruntime latency, optimized | 3 ms |",
        "| onnxruntime latency change | -25.00 % ± 3.00 % (faster) |",
        "| Environment steps | 2400 |",
        "| Training time | 321.5 s |",
    ):
        assert row in markdown
    assert "1. `fuse_conv_bn`\n2. `fuse_conv_relu`\n3. `fuse_conv_bn`\n" in markdown
    assert "3 xfer applications (2 distinct xfers)" in markdown
    assert "From `metrics.csv`: 60 episode rewards and 60 episode costs, up to 2400 environment steps." in markdown
    assert "Counts over 3 episodes; rows are the 3 xfers applied at least once (of 4 in the library)" in markdown
    assert "Exported:" not in markdown   # a result without result_source (a search's) has no such line


@pytest.mark.parametrize("change, line", [
    ({"result_source": "best_training_episode", "greedy_policy_cost_ms": 10.5, "best_training_cost_ms": 9.375},
     "Exported: the best graph of a training episode (replayed from its steps). Greedy policy: 10.5 ms; "
     "best training episode: 9.375 ms."),
    ({"result_source": "greedy_policy", "greedy_policy_cost_ms": 9.375, "best_training_cost_ms": None},
     "Exported: the greedy policy's graph. Greedy policy: 9.375 ms; best training episode: none (no training episode "
     "applied a rewrite)."),
    ({"result_source": "sampled_policy", "greedy_policy_cost_ms": 10.5, "sampled_policy_cost_ms": 8.25,
      "sampled_evaluation_episodes": 16, "best_training_cost_ms": 9.375},
     "Exported: the best graph of the trained policy's sampled episodes (replayed from its steps). Greedy policy: "
     "10.5 ms; sampled policy (best of 16 episodes): 8.25 ms; best training episode: 9.375 ms."),
    ({"result_source": "original", "greedy_policy_cost_ms": 9.375, "best_training_cost_ms": None,
      "export_note": "greedy_policy's graph measured slower in onnxruntime (+6.0% ± 2.0%, slower), so the original graph is exported"},
     "Exported: the original graph (every candidate measured slower in onnxruntime). Greedy policy: 9.375 ms; "
     "best training episode: none (no training episode applied a rewrite)."),
])
def test_an_agent_runs_report_names_the_exported_graph_with_every_candidates_cost(tmp_path, change, line):
    metrics = _write_metrics(tmp_path / "metrics.csv", episodes=2)
    markdown = open(write_report(tmp_path / "run", metrics, {**RESULT, **change}, XFER_NAMES, [[0]], "t")).read()
    lines = markdown.splitlines()
    assert line in lines
    if change.get("export_note"):
        # Said again up front, under the latency and the estimate.
        assert lines[6] == f"**Export:** {change['export_note']}."
    # Right under the result table.
    assert lines[lines.index(line) - 2].startswith("| Training time |")


def test_report_is_deterministic(full_report, tmp_path):
    run_dir, _ = full_report
    shutil.copy(run_dir / "metrics.csv", tmp_path / "metrics.csv")
    write_report(tmp_path / "again", tmp_path / "metrics.csv", RESULT, XFER_NAMES, APPLIED_PER_EPISODE, "PPO on ResNet18")
    for name in ("report.md", "reward_curve.png", "cost_curve.png", "xfer_heatmap.png"):
        assert (tmp_path / "again" / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_empty_metrics_give_notes_instead_of_curves(tmp_path):
    (tmp_path / "old").mkdir()
    # A report drawn before: its curves must not survive next to a report that does not draw them.
    write_report(tmp_path / "run", _write_metrics(tmp_path / "old" / "metrics.csv", episodes=3), RESULT, XFER_NAMES, [[0]], "t")
    assert (tmp_path / "run" / "reward_curve.png").exists()
    empty = tmp_path / "metrics.csv"
    MetricsLog(empty, COLUMNS)
    report_path = write_report(tmp_path / "run", empty, RESULT, XFER_NAMES, [], "Nothing yet")
    markdown = open(report_path).read()
    assert "No episode has been logged in `metrics.csv` yet, so there are no reward or cost curves." in markdown
    assert "No xfer was applied in the 0 recorded episodes, so there is no heatmap." in markdown
    assert "![" not in markdown
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["report.md"]
    empty.write_text("")
    assert "no reward or cost curves" in open(write_report(tmp_path / "run", empty, RESULT, XFER_NAMES, [[]], "t")).read()


def test_non_finite_cells_are_skipped_and_missing_result_keys_are_marked(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv", COLUMNS)
    for step, reward, cost in ((10, 1.0, 9.0), (20, math.nan, 8.5), (30, 2.0, math.nan), (40, 3.0, 8.0)):
        log.append({ENV_STEPS_COLUMN: step, EPISODE_REWARD_COLUMN: reward, EPISODE_FINAL_COST_COLUMN: cost, "policy_loss": 0.0})
    result = {"initial_cost_ms": 10.0, "search_seconds": 2.0, "model": "a|b"}
    markdown = open(write_report(tmp_path, tmp_path / "metrics.csv", result, XFER_NAMES, [[2]], "Search")).read()
    assert "3 episode rewards and 3 episode costs, up to 40 environment steps" in markdown
    assert "| Model | a\\|b |" in markdown
    assert "| Final cost (estimated) | not recorded |" in markdown
    assert "| Cost reduction | not recorded |" in markdown
    assert "| Verified in onnxruntime | not recorded |" in markdown
    assert "| Search time | 2 s |" in markdown and "Training time" not in markdown
    assert markdown.startswith(
        "# Search\n\n**Real latency:** not measured (the result has no onnxruntime timing of both graphs).\n\n"
        "**Estimated cost** (an estimate by cost model and device not recorded, not a measurement): final cost not recorded.\n"
    )
    assert "The result does not record the applied xfers." in markdown
    _assert_sensible_png(tmp_path / "cost_curve.png")


@pytest.mark.parametrize("result_change, message", [
    ({"initial_cost_ms": None}, r"result\['initial_cost_ms'\] is required"),
    ({"final_cost_ms": "9 ms"}, r"result\['final_cost_ms'\]: expected a number, found str '9 ms'"),
    ({"env_steps": True}, r"result\['env_steps'\]: expected a number"),
    ({"verified": "yes"}, r"result\['verified'\]: expected true or false"),
    ({"applied": "fuse_conv_bn"}, r"result\['applied'\]: expected a list of xfer names"),
    ({"applied": ["fuse_conv_bn", 3]}, r"result\['applied'\]\[1\]: expected an xfer name"),
    ({"model": 18}, r"result\['model'\]: expected a string"),
    ({"result_source": "best_episode"}, r"result\['result_source'\]: expected one of \['best_training_episode', 'greedy_policy', 'original', 'sampled_policy'\], found 'best_episode'"),
    ({"best_training_cost_ms": "0.3"}, r"result\['best_training_cost_ms'\]: expected a number, found str"),
    ({"latency_verdict": "quicker"}, r"result\['latency_verdict'\]: expected one of \['faster', 'same', 'slower'\], found 'quicker'"),
    ({"latency_noise": "2%"}, r"result\['latency_noise'\]: expected a number, found str '2%'"),
])
def test_bad_result_is_named_and_nothing_is_written(tmp_path, result_change, message):
    metrics = _write_metrics(tmp_path / "metrics.csv", episodes=2)
    with pytest.raises(ReportError, match=message):
        write_report(tmp_path / "run", metrics, {**RESULT, **result_change}, XFER_NAMES, [[0]], "t")
    assert not (tmp_path / "run").exists()


def test_bad_metrics_and_arguments_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics file '.*missing.csv' does not exist"):
        write_report(tmp_path, tmp_path / "missing.csv", RESULT, XFER_NAMES, [], "t")
    partial = tmp_path / "partial.csv"
    MetricsLog(partial, [ENV_STEPS_COLUMN, EPISODE_REWARD_COLUMN])
    with pytest.raises(ReportError, match=r"metrics file '.*partial.csv' has no column 'episode_final_cost_ms'"):
        write_report(tmp_path, partial, RESULT, XFER_NAMES, [], "t")
    text_cell = tmp_path / "text.csv"
    text_cell.write_text("env_steps,episode_reward,episode_final_cost_ms\n10,1.0,9.0\n20,high,8.0\n")
    with pytest.raises(ReportError, match=r"text.csv', line 3, column 'episode_reward': expected a number, found 'high'"):
        write_report(tmp_path, text_cell, RESULT, XFER_NAMES, [], "t")
    metrics = _write_metrics(tmp_path / "metrics.csv", episodes=2)
    with pytest.raises(ValueError, match=r"applied_per_episode\[0\]\[1\]: expected an xfer id, an integer in \[0, 4\), found 4"):
        write_report(tmp_path, metrics, RESULT, XFER_NAMES, [[0, 4]], "t")
    for bad_title in ("", "two\nlines", None):
        with pytest.raises(ReportError, match="title must be one non-empty line"):
            write_report(tmp_path, metrics, RESULT, XFER_NAMES, [], bad_title)
    with pytest.raises(ReportError, match="result must be a dict"):
        write_report(tmp_path, metrics, [("initial_cost_ms", 1.0)], XFER_NAMES, [], "t")
    with pytest.raises(ReportError, match=r"run directory '.*metrics.csv' exists and is not a directory"):
        write_report(metrics, metrics, RESULT, XFER_NAMES, [], "t")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.csv", "partial.csv", "text.csv"]
