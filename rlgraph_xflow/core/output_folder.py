"""writable_folder: create an output folder if needed and prove it writable before any work starts.

The optimize and evaluate commands check their --out folder first, so that a
long search or measurement is not lost to a folder it cannot write at the end.
"""
from __future__ import annotations

import os
import tempfile


class OutputFolderError(ValueError):
    """The output folder is a file, or cannot be created or written."""


def writable_folder(out_dir: "str | os.PathLike", contents: str = "its results") -> str:
    """Creates out_dir if needed and writes (and removes) a probe file in it; returns it as a str.

    Args:
        out_dir: the folder.
        contents: what will be written there, for the error message.

    Raises:
        OutputFolderError: out_dir exists and is not a folder, or cannot be created or written.
    """
    folder = os.fspath(out_dir)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputFolderError(f"--out {folder!r} exists and is not a folder; expected a folder to write {contents} into")
    try:
        os.makedirs(folder, exist_ok=True)
        # os.access says yes to root even on a read-only mount; writing is the real test.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise OutputFolderError(f"--out {folder!r} is not a writable folder: {error.strerror or error}") from error
    return folder
