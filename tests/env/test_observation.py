"""The observation space layout (dissertation 3.2.3)."""
import numpy as np

from rlgraph_xflow.core.spaces import BoolBox, GraphSpace, IntBox
from rlgraph_xflow.env.observation import (EDGE_FEATURE_SIZE, FIELDS, GLOBAL_FEATURE_SIZE, GRAPH_TUPLE, LOCATION_MASKS,
                                           XFER_MASK, XFER_TUPLES, observation_space)


def test_fields_and_shapes():
    space = observation_space(num_xfers=5, max_locations=7, max_pattern_ops=3, num_op_types=11)
    assert sorted(space.keys()) == sorted(FIELDS)
    assert space[GRAPH_TUPLE] == GraphSpace(12, EDGE_FEATURE_SIZE, GLOBAL_FEATURE_SIZE)
    assert isinstance(space[XFER_TUPLES], IntBox) and space[XFER_TUPLES].shape == (5, 7, 3) and space[XFER_TUPLES].low == -1
    assert space[LOCATION_MASKS] == BoolBox((5, 7), batch_rank=True)
    assert space[XFER_MASK] == BoolBox((6,), batch_rank=True)


def test_a_batched_observation_is_contained():
    space = observation_space(num_xfers=2, max_locations=3, max_pattern_ops=2, num_op_types=4)
    sample = space.sample(2, np.random.default_rng(0))
    assert space.contains(sample)
    sample[XFER_MASK] = sample[XFER_MASK].astype(np.int32)
    assert not space.contains(sample)
