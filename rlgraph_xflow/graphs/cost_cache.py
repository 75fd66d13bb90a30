"""A persistent on-disk cache of measured operator costs, one table per device.

Holds:
  CostCache: get/put of milliseconds keyed by (device name, cost key), stored
    as JSON and written atomically.
  CostCacheError: the cache file exists but is not a cost cache.
  default_cache_path: $RLGRAPH_XFLOW_CACHE_DIR/costs.json, else
    ~/.cache/rlgraph_xflow/costs.json.

File format (version 1):
    {"format": "rlgraph_xflow.cost_cache", "version": 1,
     "devices": {"<device name>": {"<cost key>": <milliseconds>, ...}, ...}}

A corrupt file is an error naming the file, never silently replaced: it may
hold hours of measurements, so the user decides whether to delete it.
Nothing is written until `put`; writes go to a temporary file in the same
folder which then replaces the cache with os.replace, so a reader never sees
half a file, and entries other processes wrote meanwhile are merged in, not lost.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Mapping

from rlgraph_xflow.core.atomic_file import write_atomically
from rlgraph_xflow.core.validation import is_number

_FORMAT = "rlgraph_xflow.cost_cache"
_VERSION = 1
CACHE_DIRECTORY_VARIABLE = "RLGRAPH_XFLOW_CACHE_DIR"


class CostCacheError(ValueError):
    """The cost cache file exists but cannot be read as a cost cache."""


def default_cache_path() -> pathlib.Path:
    """Where the cost cache lives unless a path is given.

    Returns:
        $RLGRAPH_XFLOW_CACHE_DIR/costs.json when that variable is set and not
        empty, else ~/.cache/rlgraph_xflow/costs.json. Nothing is created.
    """
    directory = os.environ.get(CACHE_DIRECTORY_VARIABLE)
    if directory:
        return pathlib.Path(directory) / "costs.json"
    return pathlib.Path.home() / ".cache" / "rlgraph_xflow" / "costs.json"


def _read(path: pathlib.Path) -> dict[str, dict[str, float]]:
    """The device tables stored in the file, or empty if there is no file."""
    if not path.exists():
        return {}
    fix = "delete or move the file to start an empty cache"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CostCacheError(f"cost cache '{path}' is not valid JSON ({error}); {fix}") from error
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise CostCacheError(f"cost cache '{path}' is not a cost cache (expected \"format\": \"{_FORMAT}\"); {fix}")
    if document.get("version") != _VERSION:
        raise CostCacheError(
            f"cost cache '{path}' has version {document.get('version')!r}, this code reads version {_VERSION}; {fix}"
        )
    devices = document.get("devices")
    if not isinstance(devices, dict):
        raise CostCacheError(f"cost cache '{path}': \"devices\" must be an object, found {type(devices).__name__}; {fix}")
    for device, table in devices.items():
        if not isinstance(table, dict):
            raise CostCacheError(f"cost cache '{path}': devices['{device}'] must be an object; {fix}")
        for cost_key, milliseconds in table.items():
            if not is_number(milliseconds) or not milliseconds >= 0:
                raise CostCacheError(
                    f"cost cache '{path}': devices['{device}']['{cost_key}'] must be a number >= 0, "
                    f"found {milliseconds!r}; {fix}"
                )
    return {device: {key: float(value) for key, value in table.items()} for device, table in devices.items()}


class CostCache:
    """Measured operator costs in milliseconds, by device and cost key, persisted as JSON.

    Example:
        >>> cache = CostCache(tmp_path / "costs.json")
        >>> cache.put("Xeon 8480 / onnxruntime-cpu", "Conv|1x64x56x56|...", 0.42)
        >>> CostCache(tmp_path / "costs.json").get("Xeon 8480 / onnxruntime-cpu", "Conv|1x64x56x56|...")
        0.42
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        """Opens (reads) the cache file at path; a missing file is an empty cache.

        Args:
            path: the JSON file; None means `default_cache_path()`.

        Raises:
            CostCacheError: the file exists but is not a valid cost cache.
        """
        self.path = pathlib.Path(path) if path is not None else default_cache_path()
        if self.path.is_dir():
            raise CostCacheError(f"cost cache path '{self.path}' is a folder; expected a file such as '{self.path / 'costs.json'}'")
        self._devices = _read(self.path)

    def get(self, device: str, cost_key: str) -> float | None:
        """The cached milliseconds for a cost key on a device, or None if not measured yet."""
        return self._devices.get(device, {}).get(cost_key)

    def entries(self, device: str) -> dict[str, float]:
        """A copy of every cached cost for one device."""
        return dict(self._devices.get(device, {}))

    def devices(self) -> list[str]:
        """The devices with at least one cached cost."""
        return sorted(self._devices)

    def put(self, device: str, cost_key: str, milliseconds: float) -> None:
        """Stores one cost and writes the file atomically.

        Raises:
            ValueError: empty device or cost key, or milliseconds not a finite number >= 0.
            CostCacheError: the file on disk was corrupted meanwhile.
        """
        self.put_many(device, {cost_key: milliseconds})

    def put_many(self, device: str, costs: Mapping[str, float]) -> None:
        """Stores several costs of one device with a single atomic write.

        Raises:
            ValueError: empty device or cost key, or a cost not a finite number >= 0.
            CostCacheError: the file on disk was corrupted meanwhile.
        """
        if not isinstance(device, str) or not device:
            raise ValueError(f"CostCache.put: device must be a non-empty string, found {device!r}")
        for cost_key, milliseconds in costs.items():
            if not isinstance(cost_key, str) or not cost_key:
                raise ValueError(f"CostCache.put: cost_key must be a non-empty string, found {cost_key!r} (device '{device}')")
            if not is_number(milliseconds) or not (
                math.isfinite(milliseconds) and milliseconds >= 0
            ):
                raise ValueError(
                    f"CostCache.put: cost of '{cost_key}' on '{device}' must be a finite number >= 0 ms, found {milliseconds!r}"
                )
        # Another process may have added entries since we read the file; keep them.
        merged = _read(self.path)
        for known_device, table in self._devices.items():
            merged.setdefault(known_device, {}).update(table)
        merged.setdefault(device, {}).update({key: float(value) for key, value in costs.items()})
        self._write(merged)
        self._devices = merged

    def _write(self, devices: dict[str, dict[str, float]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"format": _FORMAT, "version": _VERSION, "devices": devices}
        write_atomically(self.path, lambda stream: json.dump(document, stream, indent=1, sort_keys=True), encoding="utf-8")

    def __len__(self) -> int:
        return sum(len(table) for table in self._devices.values())
