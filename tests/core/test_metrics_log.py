"""MetricsLog and read_metrics_csv: round trip, resume, header mismatch, truncation, bad input."""
import math
import os

import numpy as np
import pytest

from rlgraph_xflow.core.metrics_log import MetricsLog, MetricsLogError, read_metrics_csv

FIELDS = ["env_steps", "episode_reward", "phase"]


def _log_with_steps(path, steps):
    log = MetricsLog(path, FIELDS)
    for step in steps:
        log.append({"env_steps": step, "episode_reward": step / 10, "phase": "train"})
    return log


def test_round_trip_keeps_numbers_exactly_and_strings_as_written(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, FIELDS)
    log.append({"env_steps": 100, "episode_reward": 0.1, "phase": "train"})
    log.append({"env_steps": np.int64(250), "episode_reward": 1 / 3, "phase": "eval, greedy"})
    log.append({"env_steps": 300, "episode_reward": float("nan"), "phase": 'say "hi"'})
    log.append({"env_steps": 400, "episode_reward": np.float32(0.1), "phase": ""})
    rows = log.rows()
    assert [row["env_steps"] for row in rows] == [100.0, 250.0, 300.0, 400.0]
    assert all(isinstance(row["env_steps"], float) for row in rows)
    assert rows[0]["episode_reward"] == 0.1
    assert rows[1]["episode_reward"] == 1 / 3
    assert math.isnan(rows[2]["episode_reward"])
    assert rows[3]["episode_reward"] == float(np.float32(0.1))
    assert [row["phase"] for row in rows] == ["train", "eval, greedy", 'say "hi"', ""]
    assert path.read_text().splitlines()[0] == "env_steps,episode_reward,phase"
    assert log.fields == FIELDS and log.path == path


def test_each_row_is_on_disk_when_append_returns(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, FIELDS)
    log.append({"env_steps": 5, "episode_reward": 2.5, "phase": "train"})
    # Read through a separate handle, as a process reading after a crash would.
    assert path.read_text() == "env_steps,episode_reward,phase\n5,2.5,train\n"


def test_reopening_with_same_header_appends(tmp_path):
    path = tmp_path / "metrics.csv"
    _log_with_steps(path, [10, 20])
    resumed = MetricsLog(path, FIELDS)
    resumed.append({"env_steps": 30, "episode_reward": 3.0, "phase": "train"})
    assert [row["env_steps"] for row in resumed.rows()] == [10.0, 20.0, 30.0]
    assert path.read_text().count("env_steps,episode_reward,phase") == 1


def test_reopening_with_other_header_is_an_error_and_keeps_the_file(tmp_path):
    path = tmp_path / "metrics.csv"
    _log_with_steps(path, [10])
    before = path.read_bytes()
    for other_fields in (["env_steps", "loss"], ["phase", "env_steps", "episode_reward"]):
        with pytest.raises(MetricsLogError) as error:
            MetricsLog(path, other_fields)
        message = str(error.value)
        assert str(path) in message and str(FIELDS) in message and str(other_fields) in message
    assert path.read_bytes() == before


def test_incomplete_last_line_from_a_killed_writer_is_cut_on_reopen(tmp_path):
    path = tmp_path / "metrics.csv"
    _log_with_steps(path, [10])
    with open(path, "a") as stream:
        stream.write("20,2.")
    log = MetricsLog(path, FIELDS)
    log.append({"env_steps": 30, "episode_reward": 3.0, "phase": "train"})
    assert [row["env_steps"] for row in log.rows()] == [10.0, 30.0]


def test_empty_existing_file_gets_a_header(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("")
    log = MetricsLog(path, FIELDS)
    assert log.rows() == []
    assert path.read_text() == "env_steps,episode_reward,phase\n"


def test_truncate_after_drops_later_rows_and_keeps_earlier_lines_unchanged(tmp_path):
    path = tmp_path / "metrics.csv"
    log = _log_with_steps(path, [10, 20, 30, 40])
    lines = path.read_text().splitlines(keepends=True)
    assert log.truncate_after("env_steps", 25) == 2
    assert path.read_text() == "".join(lines[:3])
    assert log.truncate_after("env_steps", 20) == 0
    log.append({"env_steps": 30, "episode_reward": 9.0, "phase": "resumed"})
    assert [(row["env_steps"], row["phase"]) for row in log.rows()] == [(10.0, "train"), (20.0, "train"), (30.0, "resumed")]
    assert sorted(os.listdir(tmp_path)) == ["metrics.csv"]


def test_truncate_after_is_atomic_when_the_replace_fails(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    log = _log_with_steps(path, [10, 20, 30])
    before = path.read_bytes()

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        log.truncate_after("env_steps", 15)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["metrics.csv"]


def test_truncate_after_bad_input(tmp_path):
    log = _log_with_steps(tmp_path / "metrics.csv", [10, 20])
    with pytest.raises(MetricsLogError, match=r"step field 'steps' is not one of the fields"):
        log.truncate_after("steps", 10)
    for value in (float("nan"), float("inf"), "10", True):
        with pytest.raises(MetricsLogError, match="finite number"):
            log.truncate_after("env_steps", value)
    with pytest.raises(MetricsLogError, match=r"line 2, column 'phase': expected a number, found 'train'"):
        log.truncate_after("phase", 10)


def test_append_rejects_unknown_missing_and_unwritable_values(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, FIELDS)
    with pytest.raises(MetricsLogError, match=r"unknown fields \['loss'\]"):
        log.append({"env_steps": 1, "episode_reward": 1.0, "phase": "train", "loss": 0.5})
    with pytest.raises(MetricsLogError, match=r"missing fields \['phase'\]"):
        log.append({"env_steps": 1, "episode_reward": 1.0})
    with pytest.raises(MetricsLogError, match=r"unknown fields \['reward'\] and missing fields \['episode_reward'\]"):
        log.append({"env_steps": 1, "reward": 1.0, "phase": "train"})
    for bad_value in (None, True, [1.0], "two\nlines"):
        with pytest.raises(MetricsLogError, match="column 'episode_reward'"):
            log.append({"env_steps": 1, "episode_reward": bad_value, "phase": "train"})
    with pytest.raises(MetricsLogError, match="must be a mapping"):
        log.append([1, 1.0, "train"])
    assert log.rows() == []


def test_constructor_bad_input(tmp_path):
    path = tmp_path / "metrics.csv"
    with pytest.raises(MetricsLogError, match="at least one column"):
        MetricsLog(path, [])
    with pytest.raises(MetricsLogError, match=r"duplicate field names \['a'\]"):
        MetricsLog(path, ["a", "b", "a"])
    with pytest.raises(MetricsLogError, match="list of column names"):
        MetricsLog(path, "env_steps")
    with pytest.raises(MetricsLogError, match="non-empty one-line string"):
        MetricsLog(path, ["a", ""])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MetricsLog(tmp_path / "missing" / "metrics.csv", FIELDS)
    assert not path.exists()


def test_read_metrics_csv_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        read_metrics_csv(tmp_path / "nowhere.csv")
    path = tmp_path / "metrics.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(MetricsLogError, match=r"metrics.csv', line 3: expected 2 cells"):
        read_metrics_csv(path)
    path.write_text("")
    assert read_metrics_csv(path) == ([], [])
