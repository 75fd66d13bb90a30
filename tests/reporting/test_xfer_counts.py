"""count_xfer_applications against hand counts and an independent counter."""
import collections
import random

import numpy as np
import pytest

from rlgraph_xflow.reporting.xfer_counts import count_xfer_applications

NAMES = ["fuse_conv_bn", "merge_gemm", "unused", "split_concat", "fuse_conv_relu"]


def test_counts_equal_a_hand_count():
    applied = [[0, 3, 3], [3, 0], [], [4, 0, 0, 3]]
    step_counts = count_xfer_applications(applied, NAMES)
    # Hand count, column = step index:
    #   fuse_conv_bn (0):   step 0: ep 0; step 1: ep 1, ep 3; step 2: ep 3
    #   merge_gemm (1), unused (2): never applied, so no row
    #   split_concat (3):   step 0: ep 1; step 1: ep 0; step 2: ep 0; step 3: ep 3
    #   fuse_conv_relu (4): step 0: ep 3
    assert step_counts.xfer_ids == [0, 3, 4]
    assert step_counts.xfer_names == ["fuse_conv_bn", "split_concat", "fuse_conv_relu"]
    assert step_counts.episode_count == 4
    assert step_counts.counts.dtype == np.int64
    np.testing.assert_array_equal(step_counts.counts, [
        [1, 2, 1, 0],
        [1, 1, 1, 1],
        [1, 0, 0, 0],
    ])


def test_counts_match_an_independent_counter_on_random_episodes():
    generator = random.Random(7)
    names = [f"xfer_{index}" for index in range(12)]
    applied = [np.array([generator.randrange(0, 12, 3) for _ in range(generator.randrange(0, 9))], dtype=np.int64)
               for _ in range(30)]
    step_counts = count_xfer_applications(applied, names)
    expected = collections.Counter((int(xfer_id), step) for episode in applied for step, xfer_id in enumerate(episode))
    assert set(step_counts.xfer_ids) == {xfer_id for xfer_id, _ in expected}
    for row, xfer_id in enumerate(step_counts.xfer_ids):
        for step in range(step_counts.counts.shape[1]):
            assert step_counts.counts[row, step] == expected[(xfer_id, step)]
    assert step_counts.counts.sum() == sum(len(episode) for episode in applied)


def test_no_applications_give_an_empty_matrix():
    assert count_xfer_applications([], NAMES).counts.shape == (0, 0)
    step_counts = count_xfer_applications([[], []], NAMES)
    assert step_counts.counts.size == 0 and step_counts.episode_count == 2 and step_counts.xfer_names == []


def test_bad_input_names_episode_and_step():
    with pytest.raises(ValueError, match=r"applied_per_episode\[1\]\[2\]: expected an xfer id, an integer in \[0, 5\), found 7"):
        count_xfer_applications([[0], [1, 1, 7]], NAMES)
    with pytest.raises(ValueError, match=r"found 5 \(that is the NO-OP action"):
        count_xfer_applications([[5]], NAMES)
    for bad_id in (-1, 1.0, True, "1"):
        with pytest.raises(ValueError, match=r"applied_per_episode\[0\]\[0\]"):
            count_xfer_applications([[bad_id]], NAMES)
    with pytest.raises(ValueError, match=r"applied_per_episode\[0\] must be a list of xfer ids"):
        count_xfer_applications(["01"], NAMES)
    with pytest.raises(ValueError, match="applied_per_episode must be a list of episodes"):
        count_xfer_applications("01", NAMES)
    with pytest.raises(ValueError, match="xfer_names must be a list of strings"):
        count_xfer_applications([[0]], ["a", 2])
