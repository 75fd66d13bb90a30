"""XflowEnv: gymnasium conformance, exact masks, episode rules, bad actions, measured costs."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.env import ENVIRONMENTS
from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK, XFER_TUPLES
from rlgraph_xflow.env.xflow_env import NO_OP_NAME, XflowEnv
from rlgraph_xflow.graphs import export, load, substitutions, verify, zoo
from rlgraph_xflow.graphs.cost_cache import CACHE_DIRECTORY_VARIABLE, CostCache
from rlgraph_xflow.graphs.errors import CostError
from rlgraph_xflow.graphs.kernel_costs import PER_CALL_KEY, PER_KERNEL_KEY, MeasuredCostModel
from rlgraph_xflow.graphs.latency import LatencyProtocol


@pytest.fixture(scope="module")
def rules():
    return substitutions.load_rules()


@pytest.fixture(scope="module")
def squeezenet_env(rules):
    return XflowEnv(graph="squeezenet1_1", rules=rules, max_steps=5)


def test_check_env_passes(rules):
    # Wall-clock step times differ between identical steps; gymnasium's
    # determinism check compares infos, so they are left out here.
    check_env(XflowEnv(graph="squeezenet1_1", rules=rules, max_steps=5, time_steps=False), skip_render_check=True)


def test_registered_for_yaml(rules):
    assert ENVIRONMENTS.lookup("xflow") is XflowEnv


def test_observation_lies_in_the_observation_space(squeezenet_env):
    observation, info = squeezenet_env.reset(seed=0)
    assert squeezenet_env.observation_space.contains(observation)
    graph = observation[GRAPH_TUPLE]
    assert graph.n_node.tolist() == [squeezenet_env.initial_graph.engine.num_ops]
    assert observation[XFER_MASK][-1]
    counts = squeezenet_env.location_counts()
    # Masks are prefixes of length count[i]; xfer_tuples are padded beyond them.
    for xfer, count in enumerate(counts):
        assert observation[LOCATION_MASKS][xfer, :count].all() and not observation[LOCATION_MASKS][xfer, count:].any()
        assert observation[XFER_MASK][xfer] == (count > 0)
        assert (observation[XFER_TUPLES][xfer, count:] == -1).all()
        assert (observation[XFER_TUPLES][xfer, :count, 0] >= 0).all()
    assert info["runtime_ms"] == pytest.approx(squeezenet_env.initial_graph.cost(device="h100").runtime_ms)


def test_xfer_tuples_name_ops_of_the_rule_source_pattern(squeezenet_env, rules):
    observation, _ = squeezenet_env.reset()
    ops = squeezenet_env.initial_graph.engine.ops()
    descriptors = substitutions.locations(squeezenet_env.initial_graph, rules).descriptors
    for xfer, locations in enumerate(descriptors):
        for location, matched in enumerate(locations):
            row = observation[XFER_TUPLES][xfer, location]
            assert row[:len(matched)].tolist() == list(matched)
            assert all(ops[index]["type"] not in ("Input", "Weight") for index in matched)


@pytest.mark.parametrize("name", zoo.names())
def test_masks_are_exactly_right(name, rules):
    env = XflowEnv(graph=name, rules=rules, sequence_length=16 if name == "bert_base" else None)
    observation, _ = env.reset()
    counts = env.location_counts()
    assert counts.sum() > 0, f"{name}: no xfer applies at all"
    checked_valid = checked_invalid = 0
    for xfer in range(env.num_xfers):
        for location in range(int(counts[xfer]) + 1):
            if location >= env.max_locations:
                break
            env.reset()
            _, reward, _, _, info = env.step((xfer, location))
            masked = not observation[LOCATION_MASKS][xfer, location]
            assert info["invalid"] == masked, f"{name}: xfer {env.xfer_names[xfer]} location {location}"
            if masked:
                assert reward == -100.0
                checked_invalid += 1
            else:
                assert info["applied_xfer"] == env.xfer_names[xfer]
                checked_valid += 1
    assert checked_valid == counts.sum() and checked_invalid == env.num_xfers - int((counts == env.max_locations).sum())


def test_valid_step_rewards_the_runtime_saved_and_keeps_outputs_equal(squeezenet_env):
    squeezenet_env.reset()
    counts = squeezenet_env.location_counts()
    xfer = int(np.flatnonzero(counts)[0])
    before = squeezenet_env.metrics.runtime_ms
    _, reward, terminated, truncated, info = squeezenet_env.step((xfer, 0))
    assert reward == pytest.approx(before - info["runtime_ms"])
    assert not info["invalid"] and info["step_seconds"] > 0
    result = verify.verify(export(squeezenet_env.initial_graph), export(squeezenet_env.current_graph), protocol=LatencyProtocol(rounds=1, runs_per_round=1, warmup=0))
    assert result.equal


def test_invalid_action_changes_nothing(squeezenet_env):
    observation, _ = squeezenet_env.reset()
    counts = squeezenet_env.location_counts()
    masked_xfer = int(np.flatnonzero(counts == 0)[0])
    _, reward, terminated, truncated, info = squeezenet_env.step((masked_xfer, 0))
    assert reward == -100.0 and info["invalid"] and info["applied_xfer"] is None
    assert not terminated and not truncated
    assert squeezenet_env.current_graph.hash() == squeezenet_env.initial_graph.hash()


def test_no_op_ends_the_episode_unchanged(squeezenet_env):
    squeezenet_env.reset()
    _, reward, terminated, truncated, info = squeezenet_env.step((squeezenet_env.num_xfers, 0))
    assert terminated and not truncated and reward == 0.0 and info["applied_xfer"] == NO_OP_NAME
    assert squeezenet_env.current_graph.hash() == squeezenet_env.initial_graph.hash()


def test_truncated_after_max_steps(squeezenet_env):
    squeezenet_env.reset()
    masked_xfer = int(np.flatnonzero(squeezenet_env.location_counts() == 0)[0])
    for step in range(5):
        _, _, terminated, truncated, _ = squeezenet_env.step((masked_xfer, 0))
        assert not terminated
        assert truncated == (step == 4)


def test_terminates_when_nothing_applies_any_more():
    # Only one-way rules (BatchNorm folding, then Relu fusion): each step
    # removes a kernel, so the episode must end once nothing is left to fold.
    full = substitutions.load_rules()
    names = ["fold_batchnorm_into_conv", "fold_batchnorm_into_conv_bias", "fuse_conv_relu", "fuse_conv_bias_relu"]
    text = "".join(full.rule_source(full.find(name))[2] for name in names)
    env = XflowEnv(graph="resnet18", rules=substitutions.RuleLibrary.from_text(text, "one_way.rules"), max_steps=500)
    observation, info = env.reset()
    initial_launches = info["kernel_launches"]
    terminated, steps = False, 0
    while not terminated:
        xfer = int(np.flatnonzero(observation[XFER_MASK][:-1])[0])
        observation, _, terminated, truncated, info = env.step((xfer, 0))
        steps += 1
        assert not info["invalid"] and not truncated
    assert not observation[XFER_MASK][:-1].any()
    assert steps > 20 and info["kernel_launches"] == initial_launches - steps


def test_same_seed_same_rollout(rules):
    def rollout(seed):
        env = XflowEnv(graph="squeezenet1_1", rules=rules, max_steps=8)
        observation, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        rng = np.random.default_rng(seed)
        trace = []
        for _ in range(8):
            valid = np.argwhere(observation[LOCATION_MASKS])
            xfer, location = valid[rng.integers(len(valid))] if len(valid) else (env.num_xfers, 0)
            observation, reward, terminated, truncated, info = env.step((int(xfer), int(location)))
            trace.append((info["applied_xfer"], reward, env.current_graph.hash()))
            if terminated or truncated:
                break
        return trace

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


@pytest.mark.parametrize("action", [
    (1,), (1, 2, 3), "ab", 5, (0.0, 1), (1, 2.5), (True, 0), np.array([[1, 2]]), (-1, 0), (10**6, 0), (0, -1), (0, 200),
])
def test_malformed_actions_raise_value_error(squeezenet_env, action):
    squeezenet_env.reset()
    with pytest.raises(ValueError, match="action is|out of range"):
        squeezenet_env.step(action)


def test_step_before_reset_is_an_error(rules):
    with pytest.raises(RuntimeError, match="before reset"):
        XflowEnv(graph="squeezenet1_1", rules=rules).step((0, 0))


@pytest.mark.parametrize("arguments, key", [
    ({"graph": "resnet5"}, "env.graph"),
    ({"graph": 3}, "env.graph"),
    ({"max_locations": 0}, "env.max_locations"),
    ({"max_steps": "10"}, "env.max_steps"),
    ({"device": "tpu9"}, "env.device"),
    ({"device": ""}, "env.device"),
    ({"cost_model": "roofline"}, "env.cost_model"),
    ({"cost_model": None}, "env.cost_model"),
    ({"reward": {"type": "weigthed"}}, "env.reward.type"),
    ({"invalid_reward": "low"}, "env.invalid_reward"),
    ({"novelty_bonus": -0.1}, "env.novelty_bonus"),
    ({"novelty_bonus": "high"}, "env.novelty_bonus"),
    ({"novelty_bonus": True}, "env.novelty_bonus"),
    ({"novelty_bonus": float("nan")}, "env.novelty_bonus"),
    ({"novelty_bonus": float("inf")}, "env.novelty_bonus"),
    ({"graph_options": [2]}, "env.graph_options"),
    ({"graph_options": {"layers": 2}}, "env.graph_options"),   # squeezenet1_1 has no layers option
    ({"graph": "bert_base", "graph_options": {"layers": 13}}, "env.graph_options"),
    ({"graph": "model.onnx", "graph_options": {"layers": 2}}, "env.graph_options"),
])
def test_bad_arguments_name_the_key(rules, arguments, key):
    with pytest.raises(SpecError) as caught:
        XflowEnv(rules=rules, **{"graph": "squeezenet1_1", **arguments})
    assert caught.value.key_path == key


def test_graph_options_build_the_zoo_model_with_them(rules):
    """env.graph_options reach zoo.build: a 1-layer bert_base is the 2-layer one less one encoder layer."""
    one, two = (XflowEnv(graph="bert_base", rules=rules, sequence_length=8, graph_options={"layers": layers})
                for layers in (1, 2))
    assert one.initial_graph.hash() == load(zoo.build("bert_base", sequence_length=8, layers=1)).hash()
    assert two.initial_graph.hash() == load(zoo.build("bert_base", sequence_length=8, layers=2)).hash()
    assert one.initial_graph.hash() != two.initial_graph.hash()


def test_weighted_reward_from_spec(rules):
    env = XflowEnv(graph="squeezenet1_1", rules=rules, reward={"type": "weighted", "alpha": 0.8, "beta": 0.2})
    env.reset()
    before = env.metrics
    xfer = int(np.flatnonzero(env.location_counts())[0])
    _, reward, _, _, info = env.step((xfer, 0))
    expected = 0.8 * (before.runtime_ms - info["runtime_ms"]) + 0.2 * (before.mem_access_bytes - info["mem_access_bytes"]) / 1e6
    assert reward == pytest.approx(expected)


# ------------------------------------------------------------ novelty bonus


def first_valid_action(env) -> tuple[int, int]:
    return int(np.flatnonzero(env.location_counts())[0]), 0


def test_novelty_bonus_is_b_over_the_square_root_of_the_visits(rules):
    bonus = 0.25
    plain = XflowEnv(graph="squeezenet1_1", rules=rules)
    novel = XflowEnv(graph="squeezenet1_1", rules=rules, novelty_bonus=bonus)
    for visit in (1, 2, 3):
        plain.reset()
        novel.reset()
        action = first_valid_action(plain)
        base = plain.step(action)[1]
        assert novel.step(action)[1] == pytest.approx(base + bonus / np.sqrt(visit)), f"visit {visit}"
    # A second, different graph is new: the full bonus again. NO-OP earns none.
    second = first_valid_action(plain)
    assert novel.step(second)[1] == pytest.approx(plain.step(second)[1] + bonus)
    assert novel.step((novel.num_xfers, 0))[1] == 0.0


def test_novelty_counts_survive_get_state_and_set_state(rules):
    bonus = 0.5
    env = XflowEnv(graph="squeezenet1_1", rules=rules, novelty_bonus=bonus)
    env.reset()
    action = first_valid_action(env)
    first = env.step(action)[1]
    env.reset()
    saved = env.get_state()
    restored = XflowEnv(graph="squeezenet1_1", rules=rules, novelty_bonus=bonus)
    restored.set_state(saved)
    # Both have seen the graph `action` reaches once: the same reduced bonus, not the full one.
    again, again_restored = env.step(action)[1], restored.step(action)[1]
    assert again == pytest.approx(again_restored)
    assert first - again == pytest.approx(bonus * (1 - 1 / np.sqrt(2)))


def test_best_so_far_reward_state_survives_get_state_and_set_state(rules):
    """A restored episode rewards the next step against the saved record, not against its own reset."""
    spec = {"graph": "squeezenet1_1", "rules": rules, "reward": {"type": "best_so_far"}}
    env = XflowEnv(**spec)
    env.reset()
    env.step(first_valid_action(env))
    saved = env.get_state()
    assert saved["reward"] == {"best_runtime_ms": env.metrics.runtime_ms}
    restored = XflowEnv(**spec)
    restored.set_state(saved)
    assert restored.reward_function.get_state() == saved["reward"]
    action = first_valid_action(env)
    assert restored.step(action)[1] == env.step(action)[1]
    with pytest.raises(ValueError, match="best_runtime_ms"):
        XflowEnv(**spec).set_state({key: value for key, value in saved.items() if key != "reward"})


# ------------------------------------------------------------ measured costs


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A private cost cache: measured tests never read or write the user's."""
    monkeypatch.setenv(CACHE_DIRECTORY_VARIABLE, str(tmp_path))
    return tmp_path


def test_measured_env_prices_like_the_measured_cost_model(rules, cache_dir):
    """info's runtime is what an independent MeasuredCostModel (its own pricer, the same table file) predicts."""
    env = XflowEnv(graph="squeezenet1_1", rules=rules, cost_model="measured", max_steps=5)
    assert env.device == MeasuredCostModel().device  # None means this machine's table
    _, info = env.reset()
    assert info["runtime_ms"] == pytest.approx(MeasuredCostModel().runtime_ms(env.current_graph))
    # Hoisting a Relu over a Concat unfuses it from the Convs that fed the
    # Concat: one more kernel launches, and the runtime moves with it.
    xfer = env.xfer_names.index("hoist_relu_over_concat")
    observation, reward, _, _, after = env.step((xfer, 0))
    reference = MeasuredCostModel()
    assert after["runtime_ms"] == pytest.approx(reference.runtime_ms(env.current_graph))
    assert after["kernel_launches"] == info["kernel_launches"] + 1
    assert after["runtime_ms"] != pytest.approx(info["runtime_ms"])
    assert reward == pytest.approx(info["runtime_ms"] - after["runtime_ms"])
    assert reference.measured_count == 0, "the env's pricer should have stored every kernel it measured"
    # The node runtime feature comes from the kernel breakdown: 0 on fused members.
    fused_member = next(kernel[0] for kernel in env.current_graph.engine.runtime_kernels() if len(kernel) > 1)
    assert observation[GRAPH_TUPLE].nodes[fused_member, -1] == 0


def test_measured_envs_share_one_pricer_and_restore_checkpoints(rules, cache_dir):
    env = XflowEnv(graph="squeezenet1_1", rules=rules, cost_model="measured", device="local")
    env.reset()
    env.step(first_valid_action(env))
    restored = XflowEnv(graph="squeezenet1_1", rules=rules, cost_model="measured")
    assert restored.measured_cost_model is env.measured_cost_model
    restored.set_state(env.get_state())
    assert restored.metrics == env.metrics and restored.current_graph.hash() == env.current_graph.hash()


def test_unknown_measured_device_names_env_device(rules, cache_dir):
    with pytest.raises(SpecError, match="no kernel table for device 'nowhere kernels'") as caught:
        XflowEnv(graph="squeezenet1_1", rules=rules, cost_model="measured", device="nowhere kernels")
    assert caught.value.key_path == "env.device"
    assert isinstance(caught.value.__cause__, CostError)
    # A base config's analytic profile is named as such.
    with pytest.raises(SpecError, match="'h100' is an analytic device profile") as caught:
        XflowEnv(graph="squeezenet1_1", rules=rules, cost_model="measured", device="h100")
    assert caught.value.key_path == "env.device"


def test_another_devices_table_prices_its_kernels_and_names_a_missing_one(rules, cache_dir):
    device = "other-machine kernels"
    graph = load(zoo.build("squeezenet1_1"))
    table = {descriptor["kernel_key"]: 0.01 * (index + 1) for index, descriptor in enumerate(graph.engine.kernel_descriptors())}
    per_kernel, per_call = 0.002, 0.05
    CostCache(cache_dir / "costs.json").put_many(device, {**table, PER_KERNEL_KEY: per_kernel, PER_CALL_KEY: per_call})
    env = XflowEnv(graph=graph, rules=rules, cost_model="measured", device=device)
    assert env.device == device
    _, info = env.reset()
    expected = MeasuredCostModel(device=device).runtime_ms(graph)
    assert info["runtime_ms"] == pytest.approx(expected)
    assert info["kernel_launches"] == len(graph.engine.runtime_kernels())
    # Every kernel costs at least the smallest table entry and at most the largest.
    launches = info["kernel_launches"]
    cheapest, dearest = (per_call + launches * (per_kernel + bound(table.values())) for bound in (min, max))
    assert cheapest <= expected <= dearest
    xfer = env.xfer_names.index("hoist_relu_over_concat")
    with pytest.raises(CostError, match=f"kernel '.*' is missing from the cost table of device '{device}'"):
        env.step((xfer, 0))
    assert env.current_graph.hash() == graph.hash() and env.metrics.runtime_ms == pytest.approx(expected)
