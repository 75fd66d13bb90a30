"""Choosing a cost model and device: the one place that turns user options into a pricer.

Holds:
  COST_MODELS, DEFAULT_COST_MODEL: the accepted names; `measured` is the
    default because it is the model that predicts the runtime on this machine.
  CostSource: a resolved choice: prices graphs, hands searches their cost
    arguments and names itself in reports.
  resolve_cost_source: (cost_model, device, cost_table) from a CLI or YAML
    -> CostSource, with one clear error for each bad combination.

Device naming:
  analytic  a device profile name (`rlgraph_xflow.ops.device_profiles()`: cpu, h100,
            rtx2070, v100); default h100.
  measured  None or "local": this machine's kernel table (kernels it lacks
            are measured here); otherwise the device key of a table measured
            elsewhere (e.g. a GPU's), read from the default cost cache or
            from `cost_table`, a cost-cache file. A table from another
            device is never extended here: a kernel it lacks is an error.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

from rlgraph_xflow.graphs.cost_cache import CostCache, CostCacheError
from rlgraph_xflow.graphs.errors import CostError
from rlgraph_xflow.graphs.kernel_costs import MeasuredCostModel, local_device_name
from rlgraph_xflow.ops import device_profiles

__all__ = ["COST_MODELS", "DEFAULT_COST_MODEL", "CostSource", "resolve_cost_source"]

COST_MODELS = ("measured", "analytic")
DEFAULT_COST_MODEL = "measured"
DEFAULT_ANALYTIC_DEVICE = "h100"


@dataclasses.dataclass(frozen=True)
class CostSource:
    """A cost model bound to a device.

    Attributes:
        cost_model: "measured" or "analytic".
        device: the analytic profile, or the measured table's device key.
        measured: the MeasuredCostModel (None for analytic).
    """

    cost_model: str
    device: str
    measured: Any = None

    def search_options(self) -> dict[str, Any]:
        """Keyword arguments of substitutions.greedy/backtracking for this source."""
        if self.measured is not None:
            return {"kernel_pricer": self.measured.pricer}
        return {"device": self.device}

    def runtime_ms(self, graph: Any) -> float:
        """The predicted runtime of an XflowGraph, in milliseconds."""
        return self.price(graph)["runtime_ms"]

    def price(self, graph: Any) -> dict:
        """The engine's cost dict of an XflowGraph (runtime_ms, flops, mem_access_bytes, kernel_launches, ops)."""
        engine = getattr(graph, "engine", graph)
        if self.measured is not None:
            return self.measured.price(engine)
        return engine.cost(device=self.device)

    def describe(self) -> str:
        """How a figure from this source is labelled: an estimate, by which model, for which device."""
        if self.measured is not None:
            return f"estimate of the measured cost model (onnxruntime kernels) on {self.device}"
        return f"estimate of the analytic roofline for device profile {self.device}"


def _table_cache(cost_table: str | os.PathLike) -> CostCache:
    path = pathlib.Path(cost_table)
    if not path.is_file():
        raise CostError(f"cost table file '{path}' does not exist (or is not a file); measure one with "
                        "`python -m rlgraph_xflow.graphs stats MODEL --cost-model measured` or copy one from the machine that measured it")
    try:
        return CostCache(path)
    except CostCacheError as error:
        raise CostError(str(error)) from error


def resolve_cost_source(cost_model: str = DEFAULT_COST_MODEL, device: str | None = None,
                        cost_table: str | os.PathLike | None = None) -> CostSource:
    """Resolves a cost model, a device and an optional table file into a CostSource.

    Args:
        cost_model: "measured" (default) or "analytic".
        device: see the module docstring.
        cost_table: a cost-cache file holding a measured table (measured only).

    Returns:
        CostSource.

    Raises:
        CostError: an unknown cost model or device profile, a table file that
            does not exist or is not a cost table, a table whose recorded
            device differs from `device`, or a table file with several devices
            and no `device` to pick one.
    """
    if cost_model not in COST_MODELS:
        raise CostError(f"unknown cost model {cost_model!r}; expected one of {list(COST_MODELS)}")
    if device is not None and (not isinstance(device, str) or not device):
        raise CostError(f"device must be a non-empty string, found {device!r}")
    if cost_model == "analytic":
        if cost_table is not None:
            raise CostError("a cost table holds measured costs; use it with --cost-model measured, not analytic")
        profile = device or DEFAULT_ANALYTIC_DEVICE
        profiles = sorted(device_profiles())
        if profile not in profiles:
            raise CostError(f"unknown device {profile!r} for the analytic cost model; expected one of {profiles}")
        return CostSource("analytic", profile)
    if cost_table is None:
        if device in device_profiles():
            raise CostError(f"device {device!r} is a profile of the analytic cost model; use --cost-model analytic "
                            f"--device {device}, or --device local (this machine) or a measured table's device key")
        measured = MeasuredCostModel(device=device)
        return CostSource("measured", measured.device, measured)
    cache = _table_cache(cost_table)
    recorded = cache.devices()
    if not recorded:
        raise CostError(f"cost table '{cost_table}' records no device")
    if device in (None, "local"):
        if device == "local" and local_device_name() not in recorded:
            raise CostError(f"cost table '{cost_table}' records device(s) {recorded}, not this machine ({local_device_name()!r})")
        if device is None and len(recorded) > 1:
            raise CostError(f"cost table '{cost_table}' records several devices {recorded}; pick one with --device")
        chosen = local_device_name() if device == "local" else recorded[0]
    elif device not in recorded:
        raise CostError(f"cost table '{cost_table}' records device(s) {recorded}, not {device!r} (--device)")
    else:
        chosen = device
    measured = MeasuredCostModel(device=chosen, cache=cache)
    return CostSource("measured", measured.device, measured)
