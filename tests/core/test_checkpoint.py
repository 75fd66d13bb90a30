"""Training checkpoints: round trip, latest.json written last, and clear errors for broken checkpoints."""
import json
import os

import numpy as np
import pytest

from rlgraph_xflow.core import checkpoint
from rlgraph_xflow.core.checkpoint import CheckpointError, restore_training_checkpoint, save_training_checkpoint


class ArrayAgent:
    """An agent whose only variable is one array, saved with save_variables like a real agent's executor."""

    def __init__(self, values):
        self.values = np.asarray(values, np.float32)

    def save(self, path):
        return checkpoint.save_variables({"weights": self.values}, path)

    def restore(self, path):
        self.values = checkpoint.load_arrays(path)["weights"]


STATE = {"update": 4, "graph": b"\x00\x01engine bytes\xff", "nested": {"graphs": [b"a", b"b"], "count": 2},
         "steps": [[3, 1], [0, 7]], "best": None}


def test_a_checkpoint_round_trips_agent_and_state_and_points_latest_at_itself(tmp_path):
    state_path = save_training_checkpoint(str(tmp_path), "update-000004", ArrayAgent([1.5, -2.0]), STATE, update=4)
    assert state_path == str(tmp_path / "update-000004.json")
    assert json.loads((tmp_path / "latest.json").read_text()) == {"agent": "update-000004.npz", "state": "update-000004.json",
                                                                  "update": 4}
    restored_agent = ArrayAgent([0.0, 0.0])
    assert restore_training_checkpoint(str(tmp_path), restored_agent) == STATE
    np.testing.assert_array_equal(restored_agent.values, [1.5, -2.0])
    # No temporary files are left behind by the atomic writes.
    assert sorted(os.listdir(tmp_path)) == ["latest.json", "update-000004.json", "update-000004.npz"]


def test_a_crash_before_the_pointer_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_training_checkpoint(str(tmp_path), "update-000002", ArrayAgent([2.0]), {"update": 2}, update=2)
    real_write = checkpoint.write_json_atomically

    def crash_on_the_pointer(path, document):
        if os.path.basename(path) == checkpoint.LATEST_FILE:
            raise KeyboardInterrupt()
        real_write(path, document)

    monkeypatch.setattr(checkpoint, "write_json_atomically", crash_on_the_pointer)
    with pytest.raises(KeyboardInterrupt):
        save_training_checkpoint(str(tmp_path), "update-000004", ArrayAgent([4.0]), {"update": 4}, update=4)
    monkeypatch.undo()
    agent = ArrayAgent([0.0])
    assert restore_training_checkpoint(str(tmp_path), agent) == {"update": 2}
    np.testing.assert_array_equal(agent.values, [2.0])


def test_no_checkpoint_gives_none(tmp_path):
    assert restore_training_checkpoint(str(tmp_path), ArrayAgent([0.0])) is None
    assert checkpoint.read_latest_pointer(str(tmp_path)) is None


def test_broken_checkpoints_name_the_file(tmp_path):
    save_training_checkpoint(str(tmp_path), "update-000001", ArrayAgent([1.0]), {"update": 1}, update=1)
    latest = tmp_path / "latest.json"
    good_pointer = latest.read_text()

    latest.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"latest.json' is not readable JSON"):
        restore_training_checkpoint(str(tmp_path), ArrayAgent([0.0]))
    latest.write_text(json.dumps({"agent": "update-000001.npz"}))
    with pytest.raises(CheckpointError, match=r"expected an object with keys \['agent', 'state', 'update'\], found \['agent'\]"):
        restore_training_checkpoint(str(tmp_path), ArrayAgent([0.0]))

    latest.write_text(good_pointer)
    (tmp_path / "update-000001.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"update-000001.json': expected a JSON object, found list"):
        restore_training_checkpoint(str(tmp_path), ArrayAgent([0.0]))
    os.remove(tmp_path / "update-000001.json")
    agent = ArrayAgent([7.0])
    with pytest.raises(CheckpointError, match=r"update-000001.json', named by latest.json, does not exist"):
        restore_training_checkpoint(str(tmp_path), agent)
    np.testing.assert_array_equal(agent.values, [7.0])  # the agent is left alone when the state is unreadable
