"""RolloutBuffer: minibatch contents against the stored steps; graph batching; bad input."""
import numpy as np
import pytest
from graph_nets import utils_np

from rlgraph_xflow.execution.rollout_buffer import RolloutBuffer
from rlgraph_xflow.env.observation import concatenate_graphs
from rlgraph_xflow.env import observation as fields

from tests.components.synthetic_observations import random_observations

NUM_XFERS, LOCATIONS, PATTERN_OPS = 3, 4, 2


def _single_observation(rng):
    """One env's observation: a one-graph GraphsTuple and unbatched xfer fields."""
    batch = random_observations(rng, 1, NUM_XFERS, LOCATIONS, PATTERN_OPS)
    return {key: (value if key == fields.GRAPH_TUPLE else value[0]) for key, value in batch.items()}


def _filled_buffer(num_envs=2, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    buffer = RolloutBuffer(num_envs, steps, seed=seed)
    stored = []
    for t in range(steps):
        observations = [_single_observation(rng) for _ in range(num_envs)]
        step = {"xfers": rng.integers(0, NUM_XFERS + 1, num_envs), "locations": rng.integers(0, LOCATIONS, num_envs),
                "rewards": rng.standard_normal(num_envs), "dones": rng.random(num_envs) < 0.3,
                "values": rng.standard_normal(num_envs), "log_probs": -rng.random(num_envs)}
        buffer.add(observations, **step)
        stored.append((observations, step))
    return buffer, stored


def test_concatenation_matches_graph_nets_utils_np():
    rng = np.random.default_rng(1)
    graphs = [_single_observation(rng)[fields.GRAPH_TUPLE] for _ in range(4)]
    ours = concatenate_graphs(graphs)
    reference = utils_np.data_dicts_to_graphs_tuple([utils_np.graphs_tuple_to_data_dicts(g)[0] for g in graphs])
    for field in ("nodes", "edges", "globals", "senders", "receivers", "n_node", "n_edge"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(reference, field), err_msg=field)


def test_minibatches_hold_exactly_the_stored_steps():
    buffer, stored = _filled_buffer()
    assert buffer.is_full and len(buffer) == 5
    advantages = np.arange(10, dtype=np.float32).reshape(2, 5)
    buffer.set_advantages(advantages, advantages + 100)
    seen = []
    for batch in buffer.minibatches(3):
        graphs = batch["observations"][fields.GRAPH_TUPLE]
        node_offsets = np.concatenate([[0], np.cumsum(graphs.n_node)[:-1]])
        edge_offsets = np.concatenate([[0], np.cumsum(graphs.n_edge)[:-1]])
        for row, (env, t) in enumerate(batch["indices"]):
            observation, step = stored[t][0][env], stored[t][1]
            graph = observation[fields.GRAPH_TUPLE]
            nodes = slice(node_offsets[row], node_offsets[row] + graphs.n_node[row])
            edges = slice(edge_offsets[row], edge_offsets[row] + graphs.n_edge[row])
            np.testing.assert_array_equal(graphs.nodes[nodes], graph.nodes)
            np.testing.assert_array_equal(graphs.edges[edges], graph.edges)
            np.testing.assert_array_equal(graphs.senders[edges] - node_offsets[row], graph.senders)
            np.testing.assert_array_equal(graphs.receivers[edges] - node_offsets[row], graph.receivers)
            np.testing.assert_array_equal(graphs.globals[row], graph.globals[0])
            for key in (fields.XFER_TUPLES, fields.LOCATION_MASKS, fields.XFER_MASK):
                np.testing.assert_array_equal(batch["observations"][key][row], observation[key])
            for key in ("xfers", "locations", "dones"):
                assert batch[key][row] == step[key][env]
            for key in ("rewards", "values", "log_probs"):
                assert batch[key][row] == pytest.approx(step[key][env], rel=1e-6)
            assert batch["advantages"][row] == advantages[env, t] and batch["returns"][row] == advantages[env, t] + 100
            seen.append((env, t))
    assert sorted(seen) == [(e, t) for e in range(2) for t in range(5)], "every step exactly once"
    shuffled = [tuple(i) for b in buffer.minibatches(3) for i in b["indices"]]
    in_order = [tuple(i) for b in buffer.minibatches(3, shuffle=False) for i in b["indices"]]
    assert shuffled != sorted(shuffled) and in_order == sorted(in_order)


def test_time_series_are_env_by_time():
    buffer, stored = _filled_buffer()
    series = buffer.time_series()
    assert series["rewards"].shape == (2, 5)
    for t, (_, step) in enumerate(stored):
        np.testing.assert_allclose(series["rewards"][:, t], step["rewards"], rtol=1e-6)
        np.testing.assert_array_equal(series["dones"][:, t], step["dones"])


def test_stored_observations_are_copies():
    rng = np.random.default_rng(2)
    buffer = RolloutBuffer(1, 2)
    observation = _single_observation(rng)
    kept = observation[fields.GRAPH_TUPLE].nodes.copy()
    buffer.add([observation], [0], [0], [0.0], [False], [0.0], [0.0])
    observation[fields.GRAPH_TUPLE].nodes[:] = 99.0
    observation[fields.XFER_MASK][:] = False
    batch = next(buffer.minibatches(1))
    np.testing.assert_array_equal(batch["observations"][fields.GRAPH_TUPLE].nodes, kept)
    assert batch["observations"][fields.XFER_MASK][0, -1]


def test_bad_input_is_named():
    rng = np.random.default_rng(3)
    buffer = RolloutBuffer(2, 1)
    good = [_single_observation(rng), _single_observation(rng)]
    step = {"xfers": [0, 1], "locations": [0, 0], "rewards": [0.0, 0.0], "dones": [False, False], "values": [0.0, 0.0], "log_probs": [0.0, 0.0]}
    with pytest.raises(ValueError, match=r"observations: expected 2 \(one per env\), got 1"):
        buffer.add(good[:1], **step)
    with pytest.raises(ValueError, match=r"rewards: expected 2 values"):
        buffer.add(good, **dict(step, rewards=[0.0]))
    missing = dict(good[1])
    del missing[fields.XFER_MASK]
    with pytest.raises(ValueError, match=r"observations\[1\]: expected a dict with keys"):
        buffer.add([good[0], missing], **step)
    two_graphs = dict(good[0], graph_tuple=concatenate_graphs([good[0][fields.GRAPH_TUPLE], good[1][fields.GRAPH_TUPLE]]))
    with pytest.raises(ValueError, match="expected one graph"):
        buffer.add([two_graphs, good[1]], **step)
    buffer.add(good, **step)
    with pytest.raises(ValueError, match="the buffer is full"):
        buffer.add(good, **step)
    with pytest.raises(ValueError, match=r"advantages: expected shape \(2, 1\)"):
        buffer.set_advantages(np.zeros(2), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="at least one GraphsTuple"):
        concatenate_graphs([])
    with pytest.raises(ValueError, match="RolloutBuffer num_envs must be a positive int"):
        RolloutBuffer(0, 4)


def test_an_observation_of_another_shape_is_refused():
    rng = np.random.default_rng(4)
    buffer = RolloutBuffer(1, 3)
    buffer.add([_single_observation(rng)], [0], [0], [0.0], [False], [0.0], [0.0])
    other = _single_observation(rng)
    other[fields.XFER_TUPLES] = other[fields.XFER_TUPLES][:, :2]
    with pytest.raises(ValueError, match=r"observations\[0\]\['xfer_tuples'\]: expected shape \(3, 4, 2\)"):
        buffer.add([other], [0], [0], [0.0], [False], [0.0], [0.0])
    buffer.clear()
    assert len(buffer) == 0
