"""LatentLocationHead and LatentDualActionSampler against numpy twins; NO-OP; bad inputs."""
import numpy as np
import pytest

from rlgraph_xflow.components.heads import MASKED_LOGIT, LatentLocationHead
from rlgraph_xflow.components.samplers import LatentDualActionSampler
from rlgraph_xflow.core import BoolBox, ComponentTest, FloatBox, IntBox, SpaceMismatchError, SpecError

NUM_XFERS, LOCATIONS, FEATURES = 3, 4, 5
SPACES = {"features": FloatBox((FEATURES,), batch_rank=True), "location_masks": BoolBox((NUM_XFERS, LOCATIONS), batch_rank=True),
          "xfers": IntBox(NUM_XFERS + 1, batch_rank=True)}


def relu(values):
    return np.maximum(values, 0.0)


def latent_location_logits(variables, scope, features, location_masks, xfers):
    """Loop twin: score(b, j) = MLP([features_b, xfer_embedding[x_b]] W_state + b_state + location_embedding_j)."""
    get = lambda name: variables[f"{scope}/{name}"]  # noqa: E731
    logits = np.zeros((len(xfers), LOCATIONS), np.float32)
    for row, xfer in enumerate(xfers):
        state = np.concatenate([features[row], get("xfer_embedding")[xfer]]) @ get("state/kernel") + get("state/bias")
        for location in range(LOCATIONS):
            hidden = relu(state + get("location_embedding")[location])
            hidden = relu(hidden @ get("hidden/dense_0/kernel") + get("hidden/dense_0/bias"))
            score = float(hidden @ get("score/kernel")[:, 0] + get("score/bias")[0])
            valid = location == 0 if xfer == NUM_XFERS else location_masks[row, xfer, location]
            logits[row, location] = score if valid else MASKED_LOGIT
    return logits


def random_inputs(rng, batch):
    masks = np.arange(LOCATIONS) < rng.integers(0, LOCATIONS + 1, size=(batch, NUM_XFERS))[..., None]
    return {"features": rng.standard_normal((batch, FEATURES)).astype(np.float32), "location_masks": masks,
            "xfers": rng.integers(0, NUM_XFERS + 1, size=batch).astype(np.int32)}


@pytest.fixture(scope="module")
def head_test():
    return ComponentTest(LatentLocationHead(NUM_XFERS, xfer_embedding_size=3, hidden_layers=[6, 4], seed=2), SPACES)


def test_logits_match_the_loop_twin_including_no_op(head_test):
    inputs = random_inputs(np.random.default_rng(0), 8)
    inputs["xfers"][:4] = [0, 1, 2, NUM_XFERS]
    inputs["location_masks"][:3, :, 0] = True
    expected = latent_location_logits(head_test.read_variable_values(), "latent_location_head", **inputs)
    head_test.test(("logits", (inputs["features"], inputs["location_masks"], inputs["xfers"])), expected_outputs=expected, decimals=4)


def test_sampler_log_probs_match_softmax_of_both_heads():
    sampler = LatentDualActionSampler(NUM_XFERS, location_head={"type": "latent_location_head", "hidden_layers": [4]}, seed=1)
    spaces = {"features": SPACES["features"], "location_masks": SPACES["location_masks"],
              "xfer_mask": BoolBox((NUM_XFERS + 1,), batch_rank=True), "xfers": SPACES["xfers"],
              "locations": IntBox(LOCATIONS, batch_rank=True)}
    test = ComponentTest(sampler, spaces)
    rng = np.random.default_rng(3)
    inputs = random_inputs(rng, 6)
    inputs["location_masks"][:, :, 0] = True
    xfer_mask = np.ones((6, NUM_XFERS + 1), bool)
    xfer_mask[:, 1] = False
    sampled = test.test(("sample_actions", (inputs["features"], inputs["location_masks"], xfer_mask)))
    assert not (sampled["xfers"] == 1).any()
    chosen_rows = np.minimum(sampled["xfers"], NUM_XFERS - 1)
    allowed = inputs["location_masks"][np.arange(6), chosen_rows, sampled["locations"]] | (sampled["xfers"] == NUM_XFERS)
    assert allowed.all()
    variables = test.read_variable_values()
    xfer_logits = inputs["features"] @ variables["latent_dual_action_sampler/xfer_head/logits/kernel"] \
        + variables["latent_dual_action_sampler/xfer_head/logits/bias"]
    xfer_logits = np.where(xfer_mask, xfer_logits, MASKED_LOGIT)
    xfer_log_probs = xfer_logits - np.log(np.exp(xfer_logits - xfer_logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - xfer_logits.max(1, keepdims=True)
    evaluated = test.test(("evaluate_actions", (inputs["features"], inputs["location_masks"], xfer_mask, sampled["xfers"],
                                                sampled["locations"])))
    np.testing.assert_allclose(evaluated["xfer_log_probs"], xfer_log_probs[np.arange(6), sampled["xfers"]], atol=1e-4)
    np.testing.assert_allclose(evaluated["log_probs"], sampled["log_probs"], atol=1e-5)
    greedy = test.test(("greedy_actions", (inputs["features"], inputs["location_masks"], xfer_mask)))
    np.testing.assert_array_equal(greedy["xfers"], np.argmax(xfer_logits, axis=1))


def test_bad_specs_and_spaces_are_refused():
    with pytest.raises(SpecError, match="hidden_layers"):
        LatentLocationHead(NUM_XFERS, hidden_layers=[], key_path="agent.sampler.location_head")
    with pytest.raises(SpecError, match="num_xfers"):
        LatentLocationHead(0)
    with pytest.raises(SpaceMismatchError, match="features"):
        ComponentTest(LatentLocationHead(NUM_XFERS), dict(SPACES, features=FloatBox((2, FEATURES), batch_rank=True)))
    with pytest.raises(SpecError, match="latent_location_head"):
        LatentDualActionSampler(NUM_XFERS, location_head={"type": "location_head"}, key_path="agent.sampler")
