"""write_atomically: replace a file so that a reader sees the old or the new one, never a partial write.

Checkpoints, the metrics log and the cost cache are rewritten while a run
may be killed or another process reads them; each writes through here.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Optional


def write_atomically(path: "str | os.PathLike", write: Callable[[Any], None], mode: str = "w",
                     encoding: Optional[str] = None, newline: Optional[str] = None) -> None:
    """Calls write(stream) on a temporary file in path's folder, syncs it, and renames it over `path`.

    A failed write leaves the old file as it was and no temporary file behind.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, mode, encoding=encoding, newline=newline) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
