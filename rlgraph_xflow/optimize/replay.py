"""Rebuilding the rewrite path behind a search result from its rule names.

Holds:
  ReplayedStep: one rewrite of the path (rule name, xfer id, location id).
  ReplayedPath: the graphs along the path and whether it ends at the search's graph.
  replay: re-applies a search's rule names from the starting graph.

The searches report the rules they applied by name, not the locations
(ops/engine/search.cc keeps only a rule-name trail), so the path is rebuilt:
at step k the location of rule k that gives the lowest runtime is taken,
first one on ties. That is exactly greedy's choice (the location greedy took
is the cheapest of all rewrites, so also of rule k's), so for greedy the
replay reaches the search's graph. Backtracking may have taken a costlier
location on its way, so its replay can end elsewhere; `reaches_result` says
which case holds, comparing the engine's content hashes.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from rlgraph_xflow.graphs import XflowGraph
from rlgraph_xflow.graphs.substitutions import RuleLibrary, apply, locations
from rlgraph_xflow.ops import _engine

__all__ = ["ReplayedPath", "ReplayedStep", "replay"]


@dataclasses.dataclass(frozen=True)
class ReplayedStep:
    """One rewrite of a replayed path."""

    rule: str
    xfer_id: int
    location_id: int


@dataclasses.dataclass(frozen=True)
class ReplayedPath:
    """The graphs along a replayed rewrite path.

    Attributes:
        graphs: graphs[0] is the starting graph, graphs[k] the graph after step k.
        steps: the rewrites taken, one per step.
        complete: every rule name was replayed (False when a rule is unknown to
            the library or had no location at its turn; the path stops there).
        reaches_result: the last graph has the search result's hash (False
            when no target hash was given).
    """

    graphs: tuple[XflowGraph, ...]
    steps: tuple[ReplayedStep, ...]
    complete: bool
    reaches_result: bool


def replay(
    graph: XflowGraph,
    library: RuleLibrary,
    applied: Sequence[str],
    runtime_ms: Callable[[XflowGraph], float],
    target_hash: int | None = None,
    max_locations: int = _engine.DEFAULT_MAX_LOCATIONS,
) -> ReplayedPath:
    """Re-applies rule names in order, each at its cheapest location.

    Args:
        graph: the graph the search started from.
        library: the rules the search used.
        applied: the search's rule names, in order (SearchResult.applied).
        runtime_ms: prices a graph the way the search did.
        target_hash: the search result's graph hash, to tell whether the
            replay reached it.
        max_locations: the cap the search used.

    Returns:
        ReplayedPath.

    Raises:
        TypeError: graph is not an XflowGraph.
    """
    if not isinstance(graph, XflowGraph):
        raise TypeError(f"replay: expected an XflowGraph, found {type(graph).__name__}")
    graphs, steps = [graph], []
    for rule in applied:
        xfer_id = library.find(rule)
        current = graphs[-1]
        count = locations(current, library, max_locations).counts[xfer_id] if xfer_id >= 0 else 0
        if count == 0:
            return ReplayedPath(tuple(graphs), tuple(steps), complete=False, reaches_result=False)
        best_location, best_graph, best_runtime = -1, None, float("inf")
        for location_id in range(count):
            candidate = apply(current, library, xfer_id, location_id, max_locations)
            runtime = runtime_ms(candidate)
            if runtime < best_runtime:
                best_location, best_graph, best_runtime = location_id, candidate, runtime
        graphs.append(best_graph)
        steps.append(ReplayedStep(rule, xfer_id, best_location))
    reaches = target_hash is not None and graphs[-1].hash() == target_hash
    return ReplayedPath(tuple(graphs), tuple(steps), complete=True, reaches_result=reaches)
