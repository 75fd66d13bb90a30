"""The model-free components composed into one policy-update root and run end to end.

A test root (the PPO agent proper is a later task) wires, from specs:
GNEncoder -> MaskedDualActionSampler (XferPolicyHead + LocationHead) and
ValueHead, GAE, PPOLoss and Adam, on the environment's observation space,
and runs act -> RolloutBuffer -> GAE -> minibatch updates on synthetic
observations (random small graphs, prefix masks, xfer_tuples that index
real nodes).
"""
import numpy as np
import pytest

import rlgraph_xflow.components  # noqa: F401  (registration)
from rlgraph_xflow.execution.rollout_buffer import RolloutBuffer
from rlgraph_xflow.core import BoolBox, Component, ComponentTest, FloatBox, IntBox, api, from_spec
from rlgraph_xflow.env import observation as fields

from tests.components.numpy_reference import generalized_advantage_estimation
from tests.components.synthetic_observations import random_observations

NUM_XFERS, LOCATIONS, PATTERN_OPS, OP_TYPES = 4, 5, 3, 4
NUM_ENVS, STEPS = 4, 6


class _PolicyUpdate(Component):
    """Test root: acting, advantage estimation and one PPO update as APIs."""

    def __init__(self):
        super().__init__(scope="agent")
        self.encoder = from_spec({"type": "gn_encoder", "latent_size": 8, "message_passing_rounds": 2}, "agent.encoder", scope="encoder")
        self.sampler = from_spec({"type": "masked_dual_action_sampler", "num_xfers": NUM_XFERS,
                                  "location_head": {"type": "location_head", "hidden_layers": [8], "xfer_embedding_size": 4}},
                                 "agent.sampler", scope="sampler")
        self.value_head = from_spec({"type": "value_head", "hidden_layers": [8]}, "agent.value_head", scope="value_head")
        self.gae = from_spec({"type": "gae"}, "agent.gae", scope="gae")
        self.loss = from_spec({"type": "ppo_loss"}, "agent.loss", scope="loss")
        self.optimizer = from_spec({"type": "adam", "learning_rate": 0.01, "targets": ["encoder", "sampler", "value_head"]},
                                   "agent.optimizer", scope="optimizer")
        self.add_components(self.encoder, self.sampler, self.value_head, self.gae, self.loss, self.optimizer)

    def _policy_arguments(self, observations):
        graphs = observations[fields.GRAPH_TUPLE]
        node_embeddings, z = self.encoder.encode(graphs)
        return z, (z, node_embeddings, graphs, observations[fields.XFER_TUPLES], observations[fields.LOCATION_MASKS],
                   observations[fields.XFER_MASK])

    @api
    def act(self, observations):
        z, arguments = self._policy_arguments(observations)
        return self.sampler.sample_actions(*arguments), self.value_head.value(z)

    @api
    def log_probs(self, observations, xfers, locations):
        _, arguments = self._policy_arguments(observations)
        return self.sampler.evaluate_actions(*arguments, xfers, locations)["log_probs"]

    @api
    def estimate_advantages(self, rewards, values, dones, bootstrap_values):
        return self.gae.advantages_and_returns(rewards, values, dones, bootstrap_values)

    @api
    def update(self, observations, xfers, locations, old_log_probs, advantages, returns, old_values):
        z, arguments = self._policy_arguments(observations)
        evaluated = self.sampler.evaluate_actions(*arguments, xfers, locations)
        parts = self.loss.loss(evaluated["log_probs"], old_log_probs, advantages, self.value_head.value(z), old_values, returns,
                               evaluated["xfer_entropy"], evaluated["location_entropy"])
        return parts, self.optimizer.step(parts["total_loss"])


SPACES = {
    "observations": fields.observation_space(NUM_XFERS, LOCATIONS, PATTERN_OPS, OP_TYPES),
    "xfers": IntBox(NUM_XFERS + 1, batch_rank=True),
    "locations": IntBox(LOCATIONS, batch_rank=True),
    "old_log_probs": FloatBox((), batch_rank=True),
    "advantages": FloatBox((), batch_rank=True),
    "returns": FloatBox((), batch_rank=True),
    "old_values": FloatBox((), batch_rank=True),
    "rewards": FloatBox((), batch_rank=True, time_rank=True),
    "values": FloatBox((), batch_rank=True, time_rank=True),
    "dones": BoolBox((), batch_rank=True, time_rank=True),
    "bootstrap_values": FloatBox((), batch_rank=True),
}


@pytest.fixture(scope="module")
def agent_test():
    return ComponentTest(_PolicyUpdate(), SPACES)


def _observations(rng, batch):
    return random_observations(rng, batch, NUM_XFERS, LOCATIONS, PATTERN_OPS, node_size=OP_TYPES + 1)


def _split(observations):
    """A batch observation -> one observation dict per graph (as an env returns them)."""
    graphs = observations[fields.GRAPH_TUPLE]
    node_starts = np.concatenate([[0], np.cumsum(graphs.n_node)])
    edge_starts = np.concatenate([[0], np.cumsum(graphs.n_edge)])
    singles = []
    for b in range(len(graphs.n_node)):
        nodes, edges = slice(node_starts[b], node_starts[b + 1]), slice(edge_starts[b], edge_starts[b + 1])
        graph = graphs.replace(nodes=graphs.nodes[nodes], edges=graphs.edges[edges], globals=graphs.globals[b:b + 1],
                               senders=graphs.senders[edges] - node_starts[b], receivers=graphs.receivers[edges] - node_starts[b],
                               n_node=graphs.n_node[b:b + 1], n_edge=graphs.n_edge[b:b + 1])
        singles.append({fields.GRAPH_TUPLE: graph, **{key: observations[key][b] for key in
                                                      (fields.XFER_TUPLES, fields.LOCATION_MASKS, fields.XFER_MASK)}})
    return singles


def _assert_actions_valid(observations, actions):
    rows = np.arange(len(actions["xfers"]))
    assert np.all(observations[fields.XFER_MASK][rows, actions["xfers"]]), "a masked xfer was sampled"
    real = actions["xfers"] < NUM_XFERS
    assert np.all(observations[fields.LOCATION_MASKS][rows[real], actions["xfers"][real], actions["locations"][real]]), \
        "a masked location was sampled"
    assert np.all(actions["locations"][~real] == 0)


def test_masked_actions_are_never_sampled_from_the_composed_policy(agent_test):
    rng = np.random.default_rng(0)
    for _ in range(3):
        observations = _observations(rng, 64)
        actions, values = agent_test.test(("act", (observations,)))
        _assert_actions_valid(observations, actions)
        assert values.shape == (64,) and np.all(np.isfinite(actions["log_probs"]))


def test_rollout_gae_and_one_update_change_the_policy(agent_test):
    rng = np.random.default_rng(1)
    buffer = RolloutBuffer(NUM_ENVS, STEPS, seed=1)
    for _ in range(STEPS):
        observations = _observations(rng, NUM_ENVS)
        actions, values = agent_test.test(("act", (observations,)))
        _assert_actions_valid(observations, actions)
        buffer.add(_split(observations), actions["xfers"], actions["locations"], rng.standard_normal(NUM_ENVS),
                   rng.random(NUM_ENVS) < 0.2, values, actions["log_probs"])
    series = buffer.time_series()
    bootstrap = rng.standard_normal(NUM_ENVS).astype(np.float32)
    advantages, returns = agent_test.test(("estimate_advantages", (series["rewards"], series["values"], series["dones"], bootstrap)))
    expected = generalized_advantage_estimation(series["rewards"], series["values"], series["dones"], bootstrap, 0.99, 0.97)
    np.testing.assert_allclose(advantages, expected[0], rtol=1e-4, atol=1e-5)
    buffer.set_advantages(advantages, returns)

    before = agent_test.read_variable_values()
    batch = next(buffer.minibatches(12))
    parts, gradient_norm = agent_test.test(("update", (batch["observations"], batch["xfers"], batch["locations"], batch["log_probs"],
                                                       batch["advantages"], batch["returns"], batch["values"])))
    assert all(np.isfinite(value) for value in parts.values()) and np.isfinite(gradient_norm) and gradient_norm > 0
    # The policy was not updated between acting and this first update: ratios are 1.
    assert parts["approximate_kl"] == pytest.approx(0.0, abs=1e-5) and parts["clip_fraction"] == 0.0
    after = agent_test.read_variable_values()
    for prefix in ("agent/encoder/", "agent/sampler/xfer_head/", "agent/sampler/location_head/", "agent/value_head/"):
        changed = [name for name in before if name.startswith(prefix) and not np.array_equal(before[name], after[name])]
        assert changed, f"no variable under {prefix} changed"
    assert after["agent/optimizer/step_count"] == before["agent/optimizer/step_count"] + 1


def test_repeated_updates_raise_the_probability_of_advantaged_actions(agent_test):
    rng = np.random.default_rng(2)
    observations = _observations(rng, 24)
    actions, values = agent_test.test(("act", (observations,)))
    advantages = np.where(np.arange(24) % 2 == 0, 1.0, -1.0).astype(np.float32)
    taken = (observations, actions["xfers"], actions["locations"])
    before = agent_test.test(("log_probs", taken))
    np.testing.assert_allclose(before, actions["log_probs"], atol=1e-5)
    for _ in range(6):
        parts, _ = agent_test.test(("update", taken + (actions["log_probs"], advantages, values, values)))
    change = agent_test.test(("log_probs", taken)) - before
    assert change[advantages > 0].mean() > 0 > change[advantages < 0].mean()
    assert parts["policy_loss"] < 0, "the surrogate objective should have improved on its own batch"
