"""Graph substitutions at the XflowGraph level: rules, locations, apply and search.

Holds:
  RULES_DIR: the packaged rule library (defined by rlgraph_xflow.ops;
    re-exported here, where callers of load_rules look for it).
  load_rules(path=None) -> RuleLibrary: the packaged rules, or a file /
    directory / list of them.
  Locations: per-xfer location counts (masks are prefixes) and descriptors.
  locations(graph, library, max_locations=200) -> Locations
  apply(graph, library, xfer_id, location_id, max_locations=200) -> XflowGraph
  SearchResult: best graph, applied rule names and their (xfer, location)
    steps, initial/final cost, seconds, explored graph count.
  greedy(graph, library, ...) / backtracking(graph, library, ...) -> SearchResult

Every function returns new XflowGraph objects that share the input's weight
store (rewrites never change weight data: new weights are ops over weight
leaves, new small constants carry their values in the engine), so the
results export with `rlgraph_xflow.graphs.export` as they are.

Cost during search (see ops/engine/search_cost.h): device="h100" prices with the
analytic roofline; cost_table={cost_key: ms} prices from measurements, where
a key missing from the table is measured by `measure(descriptor) -> ms` when
given (descriptor as in XflowGraph.measurement_descriptors), else priced
analytically when fallback_to_analytic=True, else raises CostError.

Example:
    >>> from rlgraph_xflow.graphs import load, zoo, substitutions
    >>> graph = load(zoo.build("resnet18"))
    >>> rules = substitutions.load_rules()
    >>> result = substitutions.greedy(graph, rules)
    >>> result.final_cost < result.initial_cost
    True
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Mapping, Sequence

from rlgraph_xflow import ops
from rlgraph_xflow.graphs.xflow_graph import XflowGraph
from rlgraph_xflow.ops import RULES_DIR, ApplyError, KernelPricer, RuleError, RuleLibrary

__all__ = [
    "RULES_DIR",
    "ApplyError",
    "Locations",
    "RuleError",
    "RuleLibrary",
    "SearchResult",
    "apply",
    "backtracking",
    "greedy",
    "load_rules",
    "locations",
]


def load_rules(path: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> RuleLibrary:
    """Loads a rule library.

    Args:
        path: a *.rules file, a directory of them, or a list of either;
            None loads the packaged library (RULES_DIR).

    Returns:
        The RuleLibrary; xfer ids follow file-name order, then file order.

    Raises:
        RuleError: a missing path, a syntax error, an invalid rule, or a rule
            whose example does not match; the message names file, line and rule.
    """
    if path is None:
        path = RULES_DIR
    if isinstance(path, (str, os.PathLike)):
        return RuleLibrary.load(os.fspath(path))
    return RuleLibrary.load([os.fspath(item) for item in path])


@dataclasses.dataclass(frozen=True)
class Locations:
    """Every xfer's locations in one graph.

    Attributes:
        counts: counts[i] locations for xfer i; location j is valid iff j < counts[i].
        descriptors: descriptors[i][j] lists the graph op indices matched by
            location j of xfer i, in the rule's source pattern order.
    """

    counts: tuple[int, ...]
    descriptors: tuple[tuple[tuple[int, ...], ...], ...]


def _check_graph(graph: XflowGraph, where: str) -> None:
    if not isinstance(graph, XflowGraph):
        raise TypeError(f"{where}: expected an XflowGraph, got {type(graph).__name__}")


def locations(graph: XflowGraph, library: RuleLibrary, max_locations: int = ops.DEFAULT_MAX_LOCATIONS) -> Locations:
    """All valid locations of every xfer in graph (deterministic order, deduplicated, capped).

    Args:
        graph: the graph to match.
        library: the rules.
        max_locations: cap per xfer (L).

    Returns:
        Locations with per-xfer counts and descriptors.

    Raises:
        ApplyError: max_locations < 1.
    """
    _check_graph(graph, "locations")
    found = library.locations(graph.engine, max_locations)
    return Locations(
        counts=tuple(found.counts),
        descriptors=tuple(tuple(tuple(location) for location in xfer) for xfer in found.descriptors),
    )


def apply(
    graph: XflowGraph,
    library: RuleLibrary,
    xfer_id: int,
    location_id: int,
    max_locations: int = ops.DEFAULT_MAX_LOCATIONS,
) -> XflowGraph:
    """Applies location `location_id` of xfer `xfer_id`.

    Args:
        graph: the graph to rewrite (unchanged).
        library: the rules.
        xfer_id: index of the rule in library.
        location_id: index into that xfer's locations (as listed by `locations`).
        max_locations: the cap the location list was made with.

    Returns:
        The rewritten graph, sharing graph's weight store.

    Raises:
        ApplyError: xfer_id or location_id out of range.
    """
    _check_graph(graph, "apply")
    return graph.with_engine(library.apply(graph.engine, xfer_id, location_id, max_locations))


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Outcome of a search.

    Attributes:
        graph: the best graph found (shares the input's weight store).
        applied: rule ids applied to reach it, in order.
        initial_cost: runtime (ms) of the input graph.
        final_cost: runtime (ms) of `graph`.
        seconds: wall time of the search.
        explored: graphs evaluated (greedy) or popped from the queue (backtracking).
        steps: the (xfer, location) pairs that rebuild `graph` from the input
            with `apply`, one per entry of `applied` (locations index the
            graph before each step, with the search's max_locations).
    """

    graph: XflowGraph
    applied: tuple[str, ...]
    initial_cost: float
    final_cost: float
    seconds: float
    explored: int
    steps: tuple[tuple[int, int], ...]


def _search_result(graph: XflowGraph, raw: tuple) -> SearchResult:
    best, applied, initial, final, seconds, explored, steps = raw
    return SearchResult(graph.with_engine(best), tuple(applied), initial, final, seconds, explored,
                        tuple((int(xfer), int(location)) for xfer, location in steps))


def greedy(
    graph: XflowGraph,
    library: RuleLibrary,
    device: str = "h100",
    cost_table: Mapping[str, float] | None = None,
    measure: Callable[[dict], float] | None = None,
    fallback_to_analytic: bool = False,
    max_locations: int = ops.DEFAULT_MAX_LOCATIONS,
    max_steps: int = 100000,
    kernel_pricer: KernelPricer | None = None,
) -> SearchResult:
    """Greedy descent: applies the location that lowers the runtime most until none does.

    Args:
        graph: the starting graph (unchanged).
        library: the rules.
        device: analytic device profile (used when no table/measure is given,
            or as the fallback).
        cost_table: measured {cost_key: ms}.
        measure: called with a measurement descriptor for keys missing from
            the table; returns ms.
        fallback_to_analytic: price keys nothing else prices with the roofline.
        max_locations: locations per xfer considered at each step.
        max_steps: bound on the number of rewrites applied.
        kernel_pricer: price by the runtime's kernels instead (the measured
            cost model, graphs/kernel_costs.py); excludes cost_table/measure.

    Returns:
        SearchResult.

    Raises:
        CostError: unknown device, or an op nothing can price.
    """
    _check_graph(graph, "greedy")
    raw = ops.greedy(
        graph.engine, library, device=device, cost_table=None if cost_table is None else dict(cost_table), measure=measure,
        fallback_to_analytic=fallback_to_analytic, max_locations=max_locations, max_steps=max_steps,
        kernel_pricer=kernel_pricer,
    )
    return _search_result(graph, raw)


def backtracking(
    graph: XflowGraph,
    library: RuleLibrary,
    alpha: float = 1.05,
    budget: int = 1000,
    device: str = "h100",
    cost_table: Mapping[str, float] | None = None,
    measure: Callable[[dict], float] | None = None,
    fallback_to_analytic: bool = False,
    max_locations: int = ops.DEFAULT_MAX_LOCATIONS,
    time_limit_seconds: float | None = None,
    kernel_pricer: KernelPricer | None = None,
) -> SearchResult:
    """TASO's cost-based backtracking search (priority queue by runtime, alpha relaxation, budget, hash dedup).

    Args:
        graph: the starting graph (unchanged).
        library: the rules.
        alpha: candidates with runtime < alpha * best are queued (>= 1).
        budget: graphs popped from the queue (>= 1).
        device, cost_table, measure, fallback_to_analytic, max_locations, kernel_pricer: as for `greedy`.
        time_limit_seconds: also stop popping graphs once this much wall time
            has passed (None: only the budget stops it); for comparisons at
            equal wall-clock. The graph being expanded when time runs out is
            finished, so the search overruns by at most one expansion.

    Returns:
        SearchResult.

    Raises:
        CostError: alpha < 1, budget < 1, time_limit_seconds <= 0, unknown
            device, or an op nothing can price.
    """
    _check_graph(graph, "backtracking")
    if time_limit_seconds is not None and not time_limit_seconds > 0:
        raise ops.CostError(f"backtracking: time_limit_seconds must be > 0 (or None for no limit), got {time_limit_seconds!r}")
    raw = ops.backtracking(
        graph.engine, library, alpha=alpha, budget=budget, device=device,
        cost_table=None if cost_table is None else dict(cost_table), measure=measure,
        fallback_to_analytic=fallback_to_analytic, max_locations=max_locations,
        time_limit_seconds=time_limit_seconds or 0.0, kernel_pricer=kernel_pricer,
    )
    return _search_result(graph, raw)
