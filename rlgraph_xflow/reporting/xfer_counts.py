"""Counts of which xfer was applied at which step of an episode.

Holds:
  XferStepCounts: the counts behind the xfer heatmap (the dissertation's
    Figure 4.11): one row per xfer applied at least once, one column per
    step index in the episode.
  count_xfer_applications: builds XferStepCounts from the xfer ids applied
    in each episode.
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import Sequence

import numpy as np

from rlgraph_xflow.core.validation import is_instance_not_bool


@dataclasses.dataclass(frozen=True)
class XferStepCounts:
    """How often each xfer was applied at each step index, summed over episodes.

    Attributes:
        xfer_ids: ids of the xfers applied at least once, ascending (the
            library's order, so runs compare row by row).
        xfer_names: their names, same order.
        counts: int64 array [len(xfer_ids), longest episode length];
            counts[row, step] = number of episodes whose step-th application
            (0-based) was xfer xfer_ids[row].
        episode_count: number of episodes counted (empty ones included).
    """

    xfer_ids: list[int]
    xfer_names: list[str]
    counts: np.ndarray
    episode_count: int


def count_xfer_applications(applied_per_episode: Sequence[Sequence[int]], xfer_names: Sequence[str]) -> XferStepCounts:
    """Counts the xfers applied at each step index over episodes.

    Args:
        applied_per_episode: for each episode, the ids of the xfers applied,
            in step order. Ids index xfer_names; the NO-OP action (id ==
            len(xfer_names)) applies nothing and must not be listed.
        xfer_names: the name of every xfer in the library, by id.

    Returns:
        The counts; rows only for xfers applied at least once.

    Raises:
        ValueError: an id is not an integer in [0, len(xfer_names)) (names the
            episode and step), or xfer_names holds a non-string.

    Example:
        count_xfer_applications([[1, 0], [1]], ["a", "b"]) has xfer_names
        ["a", "b"] and counts [[0, 1], [2, 0]].
    """
    if isinstance(xfer_names, str) or not all(isinstance(name, str) for name in xfer_names):
        raise ValueError(f"xfer_names must be a list of strings (one per xfer id), found {xfer_names!r:.200}")
    if isinstance(applied_per_episode, (str, bytes)):
        raise ValueError(f"applied_per_episode must be a list of episodes (each a list of xfer ids), found {applied_per_episode!r:.200}")
    number_of_xfers = len(xfer_names)
    episodes = []
    for episode_index, episode in enumerate(applied_per_episode):
        if isinstance(episode, (str, bytes)) or not isinstance(episode, Sequence) and not isinstance(episode, np.ndarray):
            raise ValueError(
                f"applied_per_episode[{episode_index}] must be a list of xfer ids, found {type(episode).__name__} {episode!r:.200}"
            )
        for step_index, xfer_id in enumerate(episode):
            if not is_instance_not_bool(xfer_id, numbers.Integral) or not 0 <= xfer_id < number_of_xfers:
                no_op_hint = " (that is the NO-OP action, which applies nothing: leave it out)" if xfer_id == number_of_xfers else ""
                raise ValueError(
                    f"applied_per_episode[{episode_index}][{step_index}]: expected an xfer id, an integer in "
                    f"[0, {number_of_xfers}), found {xfer_id!r}{no_op_hint}"
                )
        episodes.append([int(xfer_id) for xfer_id in episode])
    longest = max((len(episode) for episode in episodes), default=0)
    all_counts = np.zeros((number_of_xfers, longest), dtype=np.int64)
    for episode in episodes:
        for step_index, xfer_id in enumerate(episode):
            all_counts[xfer_id, step_index] += 1
    applied_ids = [int(xfer_id) for xfer_id in np.flatnonzero(all_counts.sum(axis=1))]
    return XferStepCounts(
        xfer_ids=applied_ids,
        xfer_names=[xfer_names[xfer_id] for xfer_id in applied_ids],
        counts=all_counts[applied_ids],
        episode_count=len(episodes),
    )
