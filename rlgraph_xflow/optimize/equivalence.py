"""Does a rewritten graph still compute what the original does? One reference run, many checks.

Holds:
  Comparison: the verdict for one candidate (equal, largest difference, the
    worst output, or why onnxruntime could not run the candidate).
  EquivalenceChecker: runs the original model once on fixed feeds, then
    exports and runs candidate graphs against those reference outputs.
  first_breaking_step: bisects a sequence of graphs (a rewrite path) for the
    step whose rewrite breaks equivalence.

`verify.verify` is the full check (fresh sessions for both models, latency);
this module serves the callers that check many graphs against one original
(failing-rule search, equivalence fuzzing), where re-running the original
each time would dominate. The element-wise criterion is verify's:
|candidate - original| <= atol + rtol * |original|.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Sequence

import numpy as np
import onnx

from rlgraph_xflow.core.validation import is_number
from rlgraph_xflow.graphs import XflowGraph, export
from rlgraph_xflow.graphs.onnxruntime_session import create_cpu_session

__all__ = ["Comparison", "EquivalenceChecker", "first_breaking_step"]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """How one candidate compares with the original.

    Attributes:
        equal: every output element is within tolerance (False when the
            candidate could not be exported or run).
        max_abs_diff: the largest |candidate - original| over all outputs
            (inf where only one side is NaN/inf, or the candidate did not run).
        worst_output: the name of the output with max_abs_diff (None if it did not run).
        error: why the candidate could not be exported or run, else None.
    """

    equal: bool
    max_abs_diff: float
    worst_output: str | None
    error: str | None = None


def _absolute_differences(original: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    original64 = original.astype(np.float64)
    candidate64 = candidate.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(candidate64 - original64)
    # Matching infinities and NaN against NaN are no difference; any other non-finite result is an infinite one.
    identical = (original64 == candidate64) | (np.isnan(original64) & np.isnan(candidate64))
    difference[identical] = 0.0
    difference[np.isnan(difference)] = np.inf
    return difference


class EquivalenceChecker:
    """Reference outputs of one original model on fixed feeds, and checks of candidates against them.

    Attributes:
        feeds: the inputs every model is run on.
        output_names: the original's outputs, in order.
        reference: the original's outputs on `feeds`, by name.
        rtol, atol: the tolerance (see the module docstring).

    Example:
        >>> checker = EquivalenceChecker(zoo.build("resnet18"), random_inputs(zoo.build("resnet18")))
        >>> checker.compare(load(zoo.build("resnet18"))).equal
        True
    """

    def __init__(
        self,
        original: onnx.ModelProto | str | os.PathLike,
        feeds: Mapping[str, np.ndarray],
        rtol: float = 1e-4,
        atol: float = 1e-4,
    ) -> None:
        """Runs the original once.

        Args:
            original: the reference model (ModelProto or .onnx path).
            feeds: input name -> array for every graph input.
            rtol: relative tolerance (>= 0).
            atol: absolute tolerance (>= 0).

        Raises:
            ValueError: a negative or non-numeric tolerance.
        """
        for label, value in (("rtol", rtol), ("atol", atol)):
            if not is_number(value) or not value >= 0:
                raise ValueError(f"EquivalenceChecker: {label} must be a number >= 0, found {value!r}")
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.feeds = dict(feeds)
        session = create_cpu_session(original)
        self.output_names = [output.name for output in session.get_outputs()]
        self.reference = dict(zip(self.output_names, session.run(self.output_names, self.feeds)))

    def compare(self, candidate: XflowGraph | onnx.ModelProto) -> Comparison:
        """Exports (if needed) and runs a candidate; compares its outputs with the reference.

        A candidate that cannot be exported or that onnxruntime refuses to load
        or run is a Comparison with equal=False and the error text, not an
        exception: for the callers, an unrunnable rewrite is a broken one.

        Args:
            candidate: an XflowGraph (exported first) or a ModelProto.

        Returns:
            Comparison.

        Raises:
            TypeError: candidate is neither an XflowGraph nor a ModelProto.
        """
        if not isinstance(candidate, (XflowGraph, onnx.ModelProto)):
            raise TypeError(f"EquivalenceChecker.compare: expected an XflowGraph or onnx.ModelProto, found {type(candidate).__name__}")
        try:
            model = export(candidate) if isinstance(candidate, XflowGraph) else candidate
            outputs = create_cpu_session(model).run(self.output_names, self.feeds)
        except Exception as error:  # export errors and onnxruntime's own exception types alike mean "does not run"
            return Comparison(equal=False, max_abs_diff=float("inf"), worst_output=None, error=f"{type(error).__name__}: {error}")
        equal, worst_difference, worst_output = True, 0.0, self.output_names[0] if self.output_names else None
        for name, output in zip(self.output_names, outputs):
            original, output = self.reference[name], np.asarray(output)
            if original.shape != output.shape:
                return Comparison(
                    equal=False, max_abs_diff=float("inf"), worst_output=name,
                    error=f"output '{name}' has shape {list(output.shape)}, the original's is {list(original.shape)}",
                )
            difference = _absolute_differences(original, output)
            magnitude = np.nan_to_num(np.abs(original.astype(np.float64)), posinf=0.0)
            equal = equal and bool(np.all(difference <= self.atol + self.rtol * magnitude))
            largest = float(difference.max()) if difference.size else 0.0
            if largest > worst_difference:
                worst_difference, worst_output = largest, name
        return Comparison(equal=equal, max_abs_diff=worst_difference, worst_output=worst_output)


def first_breaking_step(graphs: Sequence[XflowGraph], checker: EquivalenceChecker) -> int | None:
    """The step of a rewrite path after which the graph stops matching the original.

    graphs[0] is the starting graph and graphs[k] the graph after step k. The
    search is a bisection over k, so it costs about log2(len(graphs)) checks;
    it returns a step k whose input graphs[k-1] matches and whose result
    graphs[k] does not, which names a rewrite that breaks equivalence (the
    first such one whenever equivalence, once broken, stays broken).

    Args:
        graphs: the path, starting graph first (at least one graph).
        checker: compares a graph with the original.

    Returns:
        k in 1..len(graphs)-1; 0 when graphs[0] itself does not match (the
        import/export round trip, not a rewrite, is at fault); None when the
        last graph matches (nothing to blame).

    Raises:
        ValueError: an empty path.
    """
    if not graphs:
        raise ValueError("first_breaking_step: the path has no graphs; expected the starting graph and one per step")
    if not checker.compare(graphs[0]).equal:
        return 0
    last = len(graphs) - 1
    if last == 0 or checker.compare(graphs[last]).equal:
        return None
    matching, breaking = 0, last
    while breaking - matching > 1:
        middle = (matching + breaking) // 2
        if checker.compare(graphs[middle]).equal:
            matching = middle
        else:
            breaking = middle
    return breaking
