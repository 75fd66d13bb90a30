"""writable_folder: creates the folder, proves it writable, and refuses what cannot be one."""
import os

import pytest

from rlgraph_xflow.core.output_folder import OutputFolderError, writable_folder


def test_a_missing_folder_is_created_and_left_empty(tmp_path):
    folder = tmp_path / "a" / "b"
    assert writable_folder(folder) == str(folder)
    assert folder.is_dir() and os.listdir(folder) == []


def test_a_file_where_the_folder_should_be_is_refused_naming_the_contents(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("{}")
    with pytest.raises(OutputFolderError, match="exists and is not a folder; expected a folder to write report.md into"):
        writable_folder(path, "report.md")
    assert path.read_text() == "{}"


def test_a_folder_that_cannot_be_created_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputFolderError, match="is not a writable folder"):
        writable_folder(blocker / "inside")
