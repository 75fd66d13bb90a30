"""BatchedXflowEnv: batching, independence of environments, autoreset."""
import numpy as np
import pytest

from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK, XFER_TUPLES, observation_space
from rlgraph_xflow.env.vector_env import BatchedXflowEnv
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.graphs import substitutions


@pytest.fixture(scope="module")
def rules():
    return substitutions.load_rules()


def test_observations_batch_into_one_graphs_tuple(rules):
    batched = BatchedXflowEnv([XflowEnv(graph="squeezenet1_1", rules=rules), XflowEnv(graph="resnet18", rules=rules)])
    observation, infos = batched.reset()
    single = [env.reset()[0] for env in batched.envs]
    graphs = observation[GRAPH_TUPLE]
    assert graphs.n_node.tolist() == [o[GRAPH_TUPLE].n_node[0] for o in single]
    np.testing.assert_array_equal(graphs.nodes, np.concatenate([o[GRAPH_TUPLE].nodes for o in single]))
    np.testing.assert_array_equal(graphs.senders[graphs.n_edge[0]:], single[1][GRAPH_TUPLE].senders + single[0][GRAPH_TUPLE].n_node[0])
    for field in (XFER_TUPLES, LOCATION_MASKS, XFER_MASK):
        np.testing.assert_array_equal(observation[field], np.stack([o[field] for o in single]))
    env = batched.envs[0]
    space = observation_space(env.num_xfers, env.max_locations, env.max_pattern_ops, graphs.nodes.shape[1] - 1)
    assert space.contains(observation), space.mismatch(observation)


def test_step_acts_on_each_environment_and_resets_finished_ones(rules):
    batched = BatchedXflowEnv.from_spec(3, graph="squeezenet1_1", rules=rules, max_steps=4)
    observation, _ = batched.reset()
    counts = batched.envs[0].location_counts()
    valid_xfer = int(np.flatnonzero(counts)[0])
    no_op = batched.num_xfers
    actions = np.array([[valid_xfer, 0], [no_op, 0], [int(np.flatnonzero(counts == 0)[0]), 0]])
    observation, rewards, terminated, truncated, infos = batched.step(actions)
    assert terminated.tolist() == [False, True, False]
    assert infos[1]["applied_xfer"] == "NO-OP" and "final_observation" in infos[1]
    assert infos[2]["invalid"] and rewards[2] == -100.0
    assert rewards[0] == pytest.approx(batched.envs[1].metrics.runtime_ms - infos[0]["runtime_ms"])
    assert batched.envs[0].current_graph.hash() != batched.envs[1].current_graph.hash()
    assert batched.envs[1].current_graph.hash() == batched.envs[2].current_graph.hash()


def test_bad_actions_and_mismatched_envs(rules):
    batched = BatchedXflowEnv.from_spec(2, graph="squeezenet1_1", rules=rules)
    batched.reset()
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        batched.step(np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match="integers"):
        batched.step(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="at least one"):
        BatchedXflowEnv([])
    with pytest.raises(ValueError, match="disagree"):
        BatchedXflowEnv([XflowEnv(graph="squeezenet1_1", rules=rules, max_locations=10), XflowEnv(graph="squeezenet1_1", rules=rules)])
