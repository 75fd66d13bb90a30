"""MaskedDualActionSampler: sampling frequencies, masks, greedy, log-probs, seeding."""
import numpy as np
import pytest

from rlgraph_xflow.env.observation import concatenate_graphs
from rlgraph_xflow.components.samplers import MaskedDualActionSampler
from rlgraph_xflow.core import ComponentTest, IntBox, SpaceMismatchError, SpecError

from tests.components.numpy_reference import dense, entropy_from_logits, location_logits, log_softmax, masked_logits
from tests.components.synthetic_observations import policy_inputs, policy_spaces

NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT = 3, 4, 2, 6
POLICY_ARGUMENTS = ("z", "node_embeddings", "graphs", "xfer_tuples", "location_masks", "xfer_mask")


@pytest.fixture(scope="module")
def sampler_test():
    sampler = MaskedDualActionSampler(NUM_XFERS, location_head={"type": "location_head", "hidden_layers": [5],
                                                                "xfer_embedding_size": 3}, seed=5)
    return ComponentTest(sampler, policy_spaces(NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT))


def _policy_arguments(inputs):
    return tuple(inputs[name] for name in POLICY_ARGUMENTS)


def _numpy_logits(test, inputs, xfers):
    """(masked xfer logits [B, N+1], masked location logits [B, L] for `xfers`)."""
    values = test.read_variable_values()
    prefix = "masked_dual_action_sampler"
    xfer = masked_logits(dense(inputs["z"], values[f"{prefix}/xfer_head/logits/kernel"], values[f"{prefix}/xfer_head/logits/bias"]),
                         inputs["xfer_mask"])
    location = location_logits(inputs["node_embeddings"], inputs["graphs"].n_node, inputs["xfer_tuples"], inputs["location_masks"],
                               xfers, values, f"{prefix}/location_head")
    return xfer, location


def _repeated(inputs, copies):
    """The first graph's inputs repeated `copies` times (one batch row each)."""
    one = {key: value[:1] for key, value in inputs.items() if key not in ("graphs", "node_embeddings")}
    first_graph_nodes = inputs["graphs"].n_node[0]
    graph = inputs["graphs"]
    single = graph.replace(nodes=graph.nodes[:first_graph_nodes], edges=graph.edges[:graph.n_edge[0]],
                           senders=graph.senders[:graph.n_edge[0]], receivers=graph.receivers[:graph.n_edge[0]],
                           globals=graph.globals[:1], n_node=graph.n_node[:1], n_edge=graph.n_edge[:1])
    repeated = {key: np.repeat(value, copies, axis=0) for key, value in one.items()}
    repeated["graphs"] = concatenate_graphs([single] * copies)
    repeated["node_embeddings"] = np.tile(inputs["node_embeddings"][:first_graph_nodes], (copies, 1))
    return repeated


def test_sampling_frequencies_follow_the_masked_softmaxes(sampler_test):
    rng = np.random.default_rng(0)
    inputs = policy_inputs(rng, 1, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
    # Two real xfers valid (with 3 and 2 locations) besides NO-OP.
    inputs["location_masks"][0] = np.arange(LOCATIONS)[None, :] < np.array([3, 0, 2])[:, None]
    inputs["xfer_mask"][0] = [True, False, True, True]
    for x in (0, 2):
        inputs["xfer_tuples"][0, x, :, 0] = rng.integers(0, inputs["graphs"].n_node[0], size=LOCATIONS)
    inputs["z"] *= 0.3   # keep every valid action reasonably likely
    copies = 20000
    batch = _repeated(inputs, copies)
    samples = sampler_test.test(("sample_actions", _policy_arguments(batch)))
    xfer_logits, _ = _numpy_logits(sampler_test, inputs, inputs["xfers"])
    xfer_probabilities = np.exp(log_softmax(xfer_logits[0]))
    # 20000 draws: every frequency's standard error is below 0.0036.
    np.testing.assert_allclose(np.bincount(samples["xfers"], minlength=NUM_XFERS + 1) / copies, xfer_probabilities, atol=0.015)
    for x in (0, 2, NUM_XFERS):
        _, location = _numpy_logits(sampler_test, inputs, np.array([x], np.int32))
        joint = xfer_probabilities[x] * np.exp(log_softmax(location[0]))
        chosen = samples["xfers"] == x
        frequencies = np.bincount(samples["locations"][chosen], minlength=LOCATIONS) / copies
        np.testing.assert_allclose(frequencies, joint, atol=0.015)


def test_masked_actions_are_never_sampled(sampler_test):
    inputs = policy_inputs(np.random.default_rng(1), 400, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
    inputs["z"] *= 10.0   # sharp logits: a masked action with a high raw logit must still lose
    for _ in range(3):
        samples = sampler_test.test(("sample_actions", _policy_arguments(inputs)))
        rows = np.arange(400)
        assert np.all(inputs["xfer_mask"][rows, samples["xfers"]])
        real = samples["xfers"] < NUM_XFERS
        assert np.all(inputs["location_masks"][rows[real], samples["xfers"][real], samples["locations"][real]])
        assert np.all(samples["locations"][~real] == 0)
        assert np.all(np.isfinite(samples["log_probs"]))


def test_greedy_actions_are_the_argmaxes(sampler_test):
    inputs = policy_inputs(np.random.default_rng(2), 30, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
    greedy = sampler_test.test(("greedy_actions", _policy_arguments(inputs)))
    xfer_logits, _ = _numpy_logits(sampler_test, inputs, inputs["xfers"])
    np.testing.assert_array_equal(greedy["xfers"], xfer_logits.argmax(-1))
    _, location = _numpy_logits(sampler_test, inputs, greedy["xfers"])
    np.testing.assert_array_equal(greedy["locations"], location.argmax(-1))


def test_log_probs_and_entropies_of_given_actions_match_numpy(sampler_test):
    inputs = policy_inputs(np.random.default_rng(3), 25, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
    evaluated = sampler_test.test(("evaluate_actions", _policy_arguments(inputs) + (inputs["xfers"], inputs["locations"])))
    xfer_logits, location = _numpy_logits(sampler_test, inputs, inputs["xfers"])
    rows = np.arange(25)
    xfer_log_probs = log_softmax(xfer_logits)[rows, inputs["xfers"]]
    location_log_probs = log_softmax(location)[rows, inputs["locations"]]
    np.testing.assert_allclose(evaluated["xfer_log_probs"], xfer_log_probs, atol=1e-4)
    np.testing.assert_allclose(evaluated["location_log_probs"], location_log_probs, atol=1e-4)
    np.testing.assert_allclose(evaluated["log_probs"], xfer_log_probs + location_log_probs, atol=1e-4)
    np.testing.assert_allclose(evaluated["xfer_entropy"], entropy_from_logits(xfer_logits), atol=1e-4)
    np.testing.assert_allclose(evaluated["location_entropy"], entropy_from_logits(location), atol=1e-4)
    no_op = inputs["xfers"] == NUM_XFERS
    assert no_op.any() and np.all(evaluated["location_log_probs"][no_op] == 0) and np.all(evaluated["location_entropy"][no_op] == 0)


def test_sampled_log_probs_equal_the_evaluation_of_the_sampled_actions(sampler_test):
    inputs = policy_inputs(np.random.default_rng(4), 50, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
    samples = sampler_test.test(("sample_actions", _policy_arguments(inputs)))
    evaluated = sampler_test.test(("evaluate_actions", _policy_arguments(inputs) + (samples["xfers"], samples["locations"])))
    for key in ("log_probs", "xfer_entropy", "location_entropy"):
        np.testing.assert_allclose(samples[key], evaluated[key], atol=1e-5)


def test_sampling_is_reproducible_from_a_checkpoint(sampler_test, tmp_path):
    inputs = policy_inputs(np.random.default_rng(5), 50, NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT)
    path = sampler_test.executor.save(tmp_path / "sampler.npz")
    first = sampler_test.test(("sample_actions", _policy_arguments(inputs)))
    second = sampler_test.test(("sample_actions", _policy_arguments(inputs)))
    assert not (np.array_equal(first["xfers"], second["xfers"]) and np.array_equal(first["locations"], second["locations"]))
    sampler_test.executor.restore(path)
    again = sampler_test.test(("sample_actions", _policy_arguments(inputs)))
    np.testing.assert_array_equal(again["xfers"], first["xfers"])
    np.testing.assert_array_equal(again["locations"], first["locations"])


def test_actions_outside_their_range_are_refused_at_trace_time():
    spaces = dict(policy_spaces(NUM_XFERS, LOCATIONS, PATTERN_OPS, LATENT), locations=IntBox(LOCATIONS + 1, batch_rank=True))
    with pytest.raises(SpaceMismatchError) as caught:
        ComponentTest(MaskedDualActionSampler(NUM_XFERS), spaces)
    assert caught.value.argument == "locations" and caught.value.api == "evaluate_actions"


@pytest.mark.parametrize("arguments, key", [
    ({"num_xfers": 3, "xfer_head": {"type": "xfer_policy_head", "num_xfers": 4}}, "sampler.xfer_head.num_xfers"),
    ({"num_xfers": 3, "location_head": {"type": "value_head"}}, "sampler.location_head.type"),
    ({"num_xfers": 3, "location_head": {"type": "location_haed"}}, "sampler.location_head.type"),
    ({"num_xfers": -1}, "sampler.num_xfers"),
])
def test_bad_specs_name_the_key(arguments, key):
    with pytest.raises(SpecError) as caught:
        MaskedDualActionSampler(key_path="sampler", **arguments)
    assert caught.value.key_path == key
