"""Checkpoints: component variables in one .npz file, and a trainer's checkpoints; everything written atomically.

Functions in this file:
  save_variables: writes name -> value to a temporary file in the target
    folder, flushes it to disk, then renames it over the target, so a crash
    never leaves a half-written checkpoint under the real name.
  load_arrays: reads such a file into name -> numpy array.
  restore_variables: assigns saved values back, refusing a checkpoint whose
    variable names or shapes differ from the component graph's.
  write_json_atomically: a JSON document, written the same way.
  save_training_checkpoint: one checkpoint of a training loop: the agent's
    variables (.npz), the loop's state (.json; bytes become base64), then,
    last, latest.json pointing at both, so a crash at any point leaves the
    previous checkpoint as the latest one.
  restore_training_checkpoint: follows latest.json, restores the agent and
    returns the loop's state (None when no checkpoint was written).
  read_latest_pointer: latest.json's content, checked.
  CheckpointError: the checkpoint is missing, unreadable or does not match.

Every trainer (PPOTrainer, the world-model agent's WorldModelTrainer)
writes and reads its checkpoints through save_training_checkpoint and
restore_training_checkpoint, called by the base class they share
(rlgraph_xflow.execution.training.Trainer); only the content of the state
differs.
"""
from __future__ import annotations

import base64
import json
import os
import zipfile
from typing import Any, Mapping, Optional

import numpy as np

from rlgraph_xflow.core.atomic_file import write_atomically

LATEST_FILE = "latest.json"
_POINTER_KEYS = ("agent", "state", "update")


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
    write_atomically(path, lambda stream: np.savez(stream, **arrays), mode="wb")
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


def write_json_atomically(path: str, document: Any) -> None:
    """Writes JSON to a temporary file in the same folder, syncs it, renames it over `path`."""
    write_atomically(path, lambda stream: json.dump(document, stream))


def _encode_bytes(value):
    """JSON-safe copy of a state tree (bytes, such as serialized graphs, become base64 strings)."""
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: _encode_bytes(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_bytes(item) for item in value]
    return value


def _decode_bytes(value):
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {key: _decode_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_bytes(item) for item in value]
    return value


def read_latest_pointer(checkpoint_dir: str) -> Optional[dict]:
    """latest.json's content ({"agent", "state", "update"}), or None when no checkpoint was written.

    Raises:
        CheckpointError: latest.json exists but is not such a pointer.
    """
    latest = os.path.join(checkpoint_dir, LATEST_FILE)
    if not os.path.isfile(latest):
        return None
    try:
        with open(latest) as stream:
            pointer = json.load(stream)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint pointer {latest!r} is not readable JSON: {error}") from None
    if not isinstance(pointer, dict) or any(key not in pointer for key in _POINTER_KEYS):
        found = sorted(pointer) if isinstance(pointer, dict) else type(pointer).__name__
        raise CheckpointError(f"checkpoint pointer {latest!r}: expected an object with keys {list(_POINTER_KEYS)}, found {found}")
    return pointer


def save_training_checkpoint(checkpoint_dir: str, name: str, agent, state: Mapping[str, Any], update: int) -> str:
    """Writes one checkpoint of a training loop and makes it the latest.

    Args:
        checkpoint_dir: an existing folder.
        name: the checkpoint's file stem ("update-000004"): NAME.npz holds
            the agent's variables, NAME.json the state.
        agent: what `agent.save(path) -> path` writes.
        state: the loop's JSON-compatible state; bytes values are allowed
            (stored as base64, given back as bytes).
        update: the loop's position, recorded in latest.json.

    Returns:
        The path of the state file.
    """
    agent_path = agent.save(os.path.join(checkpoint_dir, f"{name}.npz"))
    state_path = os.path.join(checkpoint_dir, f"{name}.json")
    write_json_atomically(state_path, _encode_bytes(dict(state)))
    # Written last: until this rename, latest.json names the previous checkpoint.
    write_json_atomically(os.path.join(checkpoint_dir, LATEST_FILE),
                          {"agent": os.path.basename(agent_path), "state": os.path.basename(state_path), "update": update})
    return state_path


def restore_training_checkpoint(checkpoint_dir: str, agent) -> Optional[dict]:
    """Restores the agent of the latest checkpoint and returns the loop's state.

    Args:
        checkpoint_dir: the folder save_training_checkpoint wrote to.
        agent: what `agent.restore(path)` restores.

    Returns:
        The state as it was saved (bytes restored), or None when the folder
        has no latest.json.

    Raises:
        CheckpointError: latest.json, or the state file it names, is missing
            or unreadable (the agent's own restore raises for its file).
    """
    pointer = read_latest_pointer(checkpoint_dir)
    if pointer is None:
        return None
    state_path = os.path.join(checkpoint_dir, pointer["state"])
    try:
        with open(state_path) as stream:
            state = json.load(stream)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint state {state_path!r}, named by {LATEST_FILE}, does not exist") from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint state {state_path!r} is not readable JSON: {error}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint state {state_path!r}: expected a JSON object, found {type(state).__name__}")
    agent.restore(os.path.join(checkpoint_dir, pointer["agent"]))
    return _decode_bytes(state)
