"""Rebuilding the rewrite path behind an optimized graph from its (xfer, location) steps.

Holds:
  ReplayedStep: one rewrite of the path (rule name, xfer id, location id).
  ReplayedPath: the graphs along the path and whether it ends at the optimized graph.
  replay: re-applies the steps from the starting graph.

Every producer of an optimized graph records the exact steps it took: the
searches (SearchResult.steps, location ids of the engine's FindLocations on
the graph before each step) and the agents (their valid actions). Replaying
them rebuilds every intermediate graph, so a verification failure can be
bisected down to one rewrite; `reaches_result` double-checks, by content
hash, that the replay ended at the graph that failed.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from rlgraph_xflow.graphs import XflowGraph
from rlgraph_xflow.graphs.substitutions import RuleLibrary, apply
from rlgraph_xflow.ops import DEFAULT_MAX_LOCATIONS, ApplyError

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
        complete: every step applied (False when a step names an xfer or
            location the graph before it does not have; the path stops there
            and `error` says why).
        reaches_result: the last graph has the target hash (False when no
            target hash was given).
        error: why the replay stopped early, or None.
    """

    graphs: tuple[XflowGraph, ...]
    steps: tuple[ReplayedStep, ...]
    complete: bool
    reaches_result: bool
    error: str | None = None


def replay(
    graph: XflowGraph,
    library: RuleLibrary,
    steps: Sequence[tuple[int, int]],
    target_hash: int | None = None,
    max_locations: int = DEFAULT_MAX_LOCATIONS,
) -> ReplayedPath:
    """Re-applies (xfer, location) steps in order.

    Args:
        graph: the graph the producer started from.
        library: the rules the producer used.
        steps: its (xfer id, location id) pairs, in order (SearchResult.steps,
            or an agent's valid actions).
        target_hash: the optimized graph's hash, to tell whether the replay
            reached it.
        max_locations: the location cap the producer used (location ids
            depend on it).

    Returns:
        ReplayedPath.

    Raises:
        TypeError: graph is not an XflowGraph.
    """
    if not isinstance(graph, XflowGraph):
        raise TypeError(f"replay: expected an XflowGraph, found {type(graph).__name__}")
    graphs, replayed = [graph], []
    for xfer_id, location_id in steps:
        try:
            graphs.append(apply(graphs[-1], library, int(xfer_id), int(location_id), max_locations))
        except ApplyError as error:
            return ReplayedPath(tuple(graphs), tuple(replayed), complete=False, reaches_result=False,
                                error=f"step {len(replayed) + 1} ({xfer_id}, {location_id}): {error}")
        replayed.append(ReplayedStep(library.rule_name(int(xfer_id)), int(xfer_id), int(location_id)))
    reaches = target_hash is not None and graphs[-1].hash() == target_hash
    return ReplayedPath(tuple(graphs), tuple(replayed), complete=True, reaches_result=reaches)
