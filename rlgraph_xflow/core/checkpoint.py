"""Checkpoints of component variables: one .npz file, written atomically.

Functions in this file:
  save_variables: writes name -> value to a temporary file in the target
    folder, flushes it to disk, then renames it over the target, so a crash
    never leaves a half-written checkpoint under the real name.
  restore_variables: assigns saved values back, refusing a checkpoint whose
    variable names or shapes differ from the component graph's.
  CheckpointError: the checkpoint is missing, unreadable or does not match.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from typing import Mapping

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint cannot be written or does not fit the variables."""


def save_variables(variables: Mapping[str, object], path: str) -> str:
    """Saves `variables` (name -> tf.Variable or array) to `path` atomically.

    Returns:
        The path written.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    arrays = {name: np.asarray(variable) for name, variable in variables.items()}
    descriptor, temporary = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def load_arrays(path: str) -> dict:
    """Reads a checkpoint into name -> numpy array."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"checkpoint {path!r} is not a readable checkpoint: {error}") from None


def restore_variables(variables: Mapping[str, object], path: str) -> None:
    """Assigns the values saved at `path` to `variables` (name -> tf.Variable)."""
    arrays = load_arrays(path)
    missing = sorted(set(variables) - set(arrays))
    unexpected = sorted(set(arrays) - set(variables))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path!r} does not match the component graph: missing {missing}, unexpected {unexpected}"
        )
    for name, variable in variables.items():
        if tuple(arrays[name].shape) != tuple(variable.shape):
            raise CheckpointError(
                f"checkpoint {path!r}: variable {name!r} has shape {arrays[name].shape}, the graph expects {tuple(variable.shape)}"
            )
    for name, variable in variables.items():
        variable.assign(arrays[name])
