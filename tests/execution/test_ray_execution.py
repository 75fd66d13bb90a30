"""RayExecution: rollouts from Ray actors equal local ones, survive a killed worker, and leave $HOME alone.

The reference for every collected step is LocalExecution driven by an
identically seeded agent: the environments are deterministic and the agent
acts in the learner, so Ray workers must hand back exactly the same data,
also when one of their processes is killed in the middle of a rollout.
One local Ray serves the whole module (starting Ray costs seconds).
"""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from rlgraph_xflow.execution.rollout_buffer import RolloutBuffer
from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.env.observation import GRAPH_TUPLE, LOCATION_MASKS, XFER_MASK
from rlgraph_xflow.execution import EXECUTIONS
from rlgraph_xflow.execution.local import LocalExecution

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV_SPEC = {"graph": "squeezenet1_1", "max_steps": 8, "reward": {"type": "incremental", "normalize": True}}
BRIEF = ["training.total_env_steps=8", "training.checkpoint_every=1", "training.random_baseline_episodes=1",
         "agent.num_envs=2", "agent.rollout_steps=4", "agent.epochs=1", "agent.minibatch_size=8", "env.max_steps=3"]


class RandomValidAgent:
    """Picks a valid (xfer, location) uniformly per environment from a seeded generator.

    `on_act` runs before the n-th act call (counting from 0), which is how a
    test kills a worker at a chosen step of a rollout.
    """

    def __init__(self, seed: int, on_act=None):
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.on_act = on_act or {}

    def act(self, observation):
        if self.calls in self.on_act:
            self.on_act[self.calls]()
        self.calls += 1
        xfers, locations = [], []
        for xfer_mask, location_masks in zip(observation[XFER_MASK], observation[LOCATION_MASKS]):
            xfer = int(self.rng.choice(np.flatnonzero(xfer_mask)))
            valid = np.flatnonzero(location_masks[xfer]) if xfer < len(location_masks) else np.array([0])
            xfers.append(xfer)
            locations.append(int(self.rng.choice(valid)))
        count = len(xfers)
        return {"xfers": np.array(xfers), "locations": np.array(locations), "values": np.zeros(count, np.float32),
                "log_probs": np.zeros(count, np.float32)}


@pytest.fixture(scope="module")
def ray_session():
    from rlgraph_xflow.execution.ray_execution import RaySession

    session = RaySession(None, num_cpus=2)
    yield session
    session.shutdown()


def _assert_same_buffers(actual, expected):
    for field in ("xfers", "locations", "rewards", "dones"):
        np.testing.assert_array_equal(np.asarray(actual.steps[field]), np.asarray(expected.steps[field]), err_msg=field)
    for step, (actual_step, expected_step) in enumerate(zip(actual.observations, expected.observations)):
        for env, (got, want) in enumerate(zip(actual_step, expected_step)):
            np.testing.assert_array_equal(got[GRAPH_TUPLE].nodes, want[GRAPH_TUPLE].nodes, err_msg=f"step {step} env {env}")
            np.testing.assert_array_equal(got[GRAPH_TUPLE].senders, want[GRAPH_TUPLE].senders)
            np.testing.assert_array_equal(got[LOCATION_MASKS], want[LOCATION_MASKS])


def _kill(execution, worker):
    def kill():
        os.kill(execution.worker_process_ids()[worker], signal.SIGKILL)
    return kill


def _assert_same_random_transitions_with_a_worker_killed_at_an_episode_end(local, remote):
    """The random agent's transitions (the world model's data) on Ray equal the local ones for the same seed.

    Worker 1 (environment 2) is killed just before a step that ends one of
    its episodes, so the replacement's replay must send back that episode's
    last observation too.
    """
    steps = 8
    local_transitions = local.collect_random_transitions(steps, np.random.default_rng(5))
    ending = next(step for step, transition in enumerate(local_transitions) if transition.dones[2])
    original_step, calls = remote.env.step, []

    def step_killing_worker_1(actions, keep_final_observations=False):
        if len(calls) == ending:
            _kill(remote, 1)()
        calls.append(1)
        return original_step(actions, keep_final_observations)

    remote.env.step = step_killing_worker_1
    try:
        remote_transitions = remote.collect_random_transitions(steps, np.random.default_rng(5))
    finally:
        remote.env.step = original_step
    assert len(remote_transitions) == steps and 2 in remote_transitions[ending].final_observations
    for step, (got, want) in enumerate(zip(remote_transitions, local_transitions)):
        np.testing.assert_array_equal(got.actions, want.actions, err_msg=f"step {step}")
        np.testing.assert_array_equal(got.rewards, want.rewards)
        np.testing.assert_array_equal(got.dones, want.dones)
        np.testing.assert_array_equal(got.observation[GRAPH_TUPLE].nodes, want.observation[GRAPH_TUPLE].nodes)
        np.testing.assert_array_equal(got.observation[LOCATION_MASKS], want.observation[LOCATION_MASKS])
        assert got.finished == want.finished, f"step {step}"
        assert sorted(got.final_observations) == sorted(want.final_observations)
        for row, final in want.final_observations.items():
            np.testing.assert_array_equal(got.final_observations[row][GRAPH_TUPLE].nodes, final[GRAPH_TUPLE].nodes)
            np.testing.assert_array_equal(got.final_observations[row][XFER_MASK], final[XFER_MASK])
            np.testing.assert_array_equal(got.final_observations[row][LOCATION_MASKS], final[LOCATION_MASKS])


def test_a_killed_worker_is_replaced_and_no_collected_step_changes(ray_session):
    num_envs, rollout_steps = 3, 6
    local = LocalExecution(ENV_SPEC, num_envs)
    remote = EXECUTIONS.from_spec({"type": "ray", "num_workers": 2}, "execution", env_spec=ENV_SPEC, num_envs=num_envs)
    try:
        first_pids = remote.worker_process_ids()
        assert len(set(first_pids)) == 2 and os.getpid() not in first_pids
        # Worker 0 dies at step 4 of the first rollout, worker 1 at step 2 of the
        # second: both replays restore episodes that were in progress.
        remote_agent = RandomValidAgent(7, on_act={4: _kill(remote, 0), rollout_steps + 2: _kill(remote, 1)})
        local_agent = RandomValidAgent(7)
        for rollout in range(2):
            local_buffer, remote_buffer = RolloutBuffer(num_envs, rollout_steps), RolloutBuffer(num_envs, rollout_steps)
            local_finished = local.collect(local_agent, local_buffer)
            remote_finished = remote.collect(remote_agent, remote_buffer)
            _assert_same_buffers(remote_buffer, local_buffer)
            assert remote_finished == local_finished, f"rollout {rollout}"
        assert remote.replaced_workers == 2
        # The episode records carry the applied (xfer, location) steps and the best prefix, equal to the local ones.
        assert any(record.applied_steps for record in remote_finished)
        _assert_same_random_transitions_with_a_worker_killed_at_an_episode_end(local, remote)
        assert remote.replaced_workers == 3
        assert not set(remote.worker_process_ids()) & set(first_pids)
        # The state a checkpoint stores is the same as the local one, so a run
        # can resume on either execution.
        assert remote.get_state() == local.get_state()
        remote.reset()
        remote.set_state(local.get_state())
        np.testing.assert_array_equal(remote.observation[GRAPH_TUPLE].nodes, local.observation[GRAPH_TUPLE].nodes)
    finally:
        remote.close()
    assert remote.sample_env.initial_graph is not None  # still usable for evaluation after close


def test_an_error_inside_a_worker_reaches_the_learner_as_itself(ray_session):
    remote = EXECUTIONS.from_spec({"type": "ray", "num_workers": 1}, "execution", env_spec=ENV_SPEC, num_envs=1)
    try:
        remote.reset()
        with pytest.raises(ValueError, match="out of range"):
            remote.env.step(np.array([[remote.sample_env.num_xfers + 5, 0]]))
    finally:
        remote.close()


@pytest.mark.parametrize("spec, key_path, message", [
    ({"num_workers": 3}, "execution.num_workers", "at most agent.num_envs = 2"),
    ({"num_workers": 0}, "execution.num_workers", "expected an int >= 1"),
    ({"address": 5}, "execution.address", "'ray://host:port'"),
    ({"worker_cpus": -1}, "execution.worker_cpus", "expected a number >= 0"),
    ({"num_worker": 2}, "execution.num_worker", "did you mean 'num_workers'"),
])
def test_bad_settings_name_their_key(spec, key_path, message):
    with pytest.raises(SpecError) as raised:
        EXECUTIONS.from_spec({"type": "ray", **spec}, "execution", env_spec=ENV_SPEC, num_envs=2)
    assert raised.value.key_path == key_path and message in raised.value.message


def test_a_local_execution_never_imports_ray():
    code = ("import sys\nfrom rlgraph_xflow.execution import EXECUTIONS\n"
            "execution = EXECUTIONS.from_spec({'type': 'local'}, 'execution', env_spec={'graph': 'squeezenet1_1'}, num_envs=1)\n"
            "execution.reset()\nassert 'ray' not in sys.modules, 'ray was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr


def test_quickstart_on_two_ray_workers_writes_a_verified_run_and_nothing_under_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    environment = {key: value for key, value in os.environ.items() if key not in ("RAY_TMPDIR", "RAY_AUTH_MODE")}
    environment["HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-m", "rlgraph_xflow.run", "configs/quickstart.yaml", "execution.type=ray", "execution.num_workers=2",
         *BRIEF, "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "result.json").read_text())
    assert report["verified"] is True and report["env_steps"] == 8
    assert (tmp_path / "run" / "optimized.onnx").is_file() and (tmp_path / "run" / "report.md").is_file()
    assert list(home.iterdir()) == [], f"written under $HOME: {list(home.iterdir())}"


def test_the_world_model_quickstart_runs_on_two_ray_workers(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rlgraph_xflow.run", "configs/world_model_quickstart.yaml", "execution.type=ray",
         "execution.num_workers=2", *BRIEF, "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "result.json").read_text())
    assert report["verified"] is True and report["real_env_steps"] == 8 and report["world_model_metrics"]["held_out_steps"] > 0
    # The export rule: the cheapest candidate that did not measure slower, or the original when every one did.
    costs = {source: report[key] for source, key in (("greedy_policy", "greedy_policy_cost_ms"),
                                                     ("best_training_episode", "best_training_cost_ms"))
             if report[key] is not None}
    rejected = {candidate["source"] for candidate in report["rejected_candidates"]}
    if report["result_source"] == "original":
        assert rejected and report["exported"] == "original" and report["final_cost_ms"] == report["initial_cost_ms"]
    else:
        assert report["final_cost_ms"] == costs[report["result_source"]] and report["latency_verdict"] != "slower"
        assert all(cost >= report["final_cost_ms"] for source, cost in costs.items() if source not in rejected)
    assert (tmp_path / "run" / "optimized.onnx").is_file() and (tmp_path / "run" / "report.md").is_file()
