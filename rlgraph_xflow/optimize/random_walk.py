"""Random walks over valid rewrites: the raw material of equivalence fuzzing.

Holds:
  WalkStep: one rewrite of a walk (rule name, xfer id, location id, how many
    valid rewrites there were to choose from).
  RandomWalk: the graphs along a walk and its steps.
  random_walk: applies `num_steps` rewrites, each drawn uniformly from all
    valid (xfer, location) pairs of the current graph, from a seeded generator.

A walk is not a search: it ignores cost, so it reaches rewrites (and
combinations of them) a cost-driven search would not, which is the point of
fuzzing. Every intermediate graph is kept, so a walk whose end graph fails a
check can be bisected (equivalence.first_breaking_step) to the step at fault.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.graphs import XflowGraph
from rlgraph_xflow.graphs.substitutions import RuleLibrary, apply, locations
from rlgraph_xflow.ops import DEFAULT_MAX_LOCATIONS

__all__ = ["RandomWalk", "WalkStep", "random_walk"]


@dataclasses.dataclass(frozen=True)
class WalkStep:
    """One rewrite of a random walk."""

    rule: str
    xfer_id: int
    location_id: int
    choices: int


@dataclasses.dataclass(frozen=True)
class RandomWalk:
    """The graphs along a random walk.

    Attributes:
        graphs: graphs[0] is the start, graphs[k] the graph after step k.
        steps: the rewrites applied.
        stopped_early: the walk ran out of valid rewrites before num_steps.
    """

    graphs: tuple[XflowGraph, ...]
    steps: tuple[WalkStep, ...]
    stopped_early: bool

    @property
    def graph(self) -> XflowGraph:
        """The walk's last graph."""
        return self.graphs[-1]


def random_walk(
    graph: XflowGraph,
    library: RuleLibrary,
    num_steps: int,
    seed: int,
    max_locations: int = DEFAULT_MAX_LOCATIONS,
) -> RandomWalk:
    """Applies num_steps rewrites, each uniform over every valid (xfer, location) pair.

    Args:
        graph: the starting graph (unchanged).
        library: the rules.
        num_steps: rewrites to apply (>= 0).
        seed: seed of the numpy Generator; the same seed gives the same walk.
        max_locations: locations per xfer (L).

    Returns:
        RandomWalk.

    Raises:
        TypeError: graph is not an XflowGraph.
        ValueError: num_steps or seed not an int >= 0.
    """
    if not isinstance(graph, XflowGraph):
        raise TypeError(f"random_walk: expected an XflowGraph, found {type(graph).__name__}")
    for label, value in (("num_steps", num_steps), ("seed", seed)):
        if not is_int(value) or value < 0:
            raise ValueError(f"random_walk: {label} must be an int >= 0, found {value!r}")
    generator = np.random.default_rng(seed)
    graphs, steps = [graph], []
    for _ in range(num_steps):
        counts = locations(graphs[-1], library, max_locations).counts
        choices = sum(counts)
        if choices == 0:
            return RandomWalk(tuple(graphs), tuple(steps), stopped_early=True)
        pick = int(generator.integers(choices))
        # Map the flat pick back to (xfer, location): xfer i owns picks [starts[i], starts[i] + counts[i]).
        starts = list(itertools.accumulate(counts, initial=0))
        xfer_id = int(np.searchsorted(starts, pick, side="right")) - 1
        location_id = pick - starts[xfer_id]
        graphs.append(apply(graphs[-1], library, xfer_id, location_id, max_locations))
        steps.append(WalkStep(library.rule_name(xfer_id), xfer_id, location_id, choices))
    return RandomWalk(tuple(graphs), tuple(steps), stopped_early=False)
