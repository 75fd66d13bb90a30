"""RayExecution: rollouts from environment workers that are Ray actors.

Classes and functions in this file:
  RaySession: starts a local Ray (no dashboard, authentication off, its temp
    folder in a fresh short temporary folder, nothing under $HOME) or
    connects to a cluster, and shuts down exactly what it started.
  EnvWorker: what one Ray actor holds: a BatchedXflowEnv with its share of
    the environments (its own engine state, rules and graphs). Plain class;
    `ray.remote` wraps it only when a RayExecution starts workers.
  RemoteBatchedEnv: the learner's view of the workers, with
    BatchedXflowEnv's interface (reset, step, get_state, set_state,
    observations). It logs every action sent since the last anchor (the
    workers' episode states at the start of the rollout) and replaces a
    worker that dies: a new actor restores the anchor and replays the
    logged actions, so the step that failed is re-run and no step is lost.
  RayExecution: LocalExecution's interface and bookkeeping over
    RemoteBatchedEnv (collect for an agent's rollouts, collect_transitions
    and collect_random_transitions for the world model's real episodes).
    Registered as execution type "ray".

Design: the policy stays in the learner. Each step the learner calls
`agent.act` on the batched observation of all environments, sends each
worker its slice of the actions, and batches the observations the workers
return. PPO therefore stays exactly on-policy, and since the environments
are deterministic and the actions come from the learner's seeded sampler,
a run with Ray workers collects the same steps as a local run with the same
seed and `num_envs`, whatever `num_workers` is. The random agent of
collect_random_transitions acts in the learner too (one generator, drawn in
environment order), so its transitions are the same as a local run's as well;
only then do the workers send back an ended episode's last observation
(which the world model learns from), since PPO does not use it.

Fault tolerance: at the start of each rollout the learner asks every worker
for its environments' states (graph bytes and step counts). When a call to
a worker fails because its process died (ray.exceptions.RayActorError), the
worker is replaced by a fresh actor, which restores those states and
replays the actions sent since, checking that the replayed rewards and
done flags equal the recorded ones (they do for a deterministic
environment; a mismatch raises instead of silently mixing two histories).
The failed step's result then comes from the replay.

Ray is imported only inside this module's functions and methods: the
registry imports this module to know the type "ray", and a run with
`execution: {type: local}` must not pay for (or be affected by) Ray.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Optional, Sequence

import numpy as np

from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.core.validation import check_int_at_least, check_non_negative_number, check_positive_number
from rlgraph_xflow.env.observation import batch_observations
from rlgraph_xflow.env.vector_env import BatchedXflowEnv
from rlgraph_xflow.env.xflow_env import XflowEnv
from rlgraph_xflow.execution.local import LocalExecution
from rlgraph_xflow.execution.registry import EXECUTIONS

# AF_UNIX socket paths may hold 107 bytes. Ray puts its sockets at
# <temp>/session_<date>_<time>_<micros>_<pid>/sockets/plasma_store (about 62
# bytes after <temp>), so the temp folder itself must stay short.
_MAX_TEMP_FOLDER_LENGTH = 40
_ENV_PATH_KEYS = ("graph", "rules")


def _short_temporary_root() -> str:
    """A folder for Ray's temp folder whose path leaves room for Ray's sockets."""
    for candidate in (os.environ.get("RAY_TMPDIR"), tempfile.gettempdir(), "/tmp"):
        if candidate and os.path.isdir(candidate) and len(candidate) + len("/rlgraph-ray-XXXXXXXX") <= _MAX_TEMP_FOLDER_LENGTH:
            return candidate
    return "/tmp"


class RaySession:
    """A connection to Ray: a local Ray this object starts, or a cluster.

    Args:
        address: None starts a local Ray; "auto" joins the cluster this
            machine belongs to; "ray://host:port" (Ray Client) or
            "host:port" connects to a remote head.
        num_cpus: CPUs a local Ray declares (ignored for a cluster).
        key_path: where the settings sit in the config, for errors.

    A session does nothing to a Ray that was already running in this process
    (inside a sweep's trial, or a test's fixture): it uses it and leaves it up.
    """

    def __init__(self, address: Optional[str] = None, num_cpus: int = 1, key_path: str = "execution"):
        self.address = address
        self.started_here = False
        self.temp_dir: Optional[str] = None
        if address is None:
            # Ray 2.60 writes an authentication token under ~/.ray unless told
            # not to; a local, single-user Ray needs none. Set before import.
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray

        if ray.is_initialized():
            return
        if address is None:
            self.temp_dir = tempfile.mkdtemp(prefix="rlgraph-ray-", dir=_short_temporary_root())
            try:
                ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=self.temp_dir, log_to_driver=False,
                         configure_logging=False)
            except BaseException:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                raise
        else:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except ConnectionError as error:
                raise SpecError(f"{key_path}.address", f"cannot connect to the Ray cluster at {address!r}: {error}") from None
        self.started_here = True
        # An interpreter that exits without close() (an error before the
        # trainer's finally, a second Ctrl-C) still stops Ray and removes
        # its temp folder.
        atexit.register(self.shutdown)

    def shutdown(self) -> None:
        """Stops the local Ray (or disconnects from the cluster) if this session started it; idempotent."""
        if not self.started_here:
            return
        import ray

        self.started_here = False
        atexit.unregister(self.shutdown)
        ray.shutdown()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


class EnvWorker:
    """The environments one Ray actor steps (its share of `num_envs`).

    Args:
        env_spec: XflowEnv arguments (the config's `env:` without `type`).
        num_envs: environments this worker holds.
    """

    def __init__(self, env_spec: dict, num_envs: int):
        self.env = BatchedXflowEnv.from_spec(num_envs, **env_spec)

    def process_id(self) -> int:
        return os.getpid()

    def reset(self) -> tuple:
        """(observations, infos) of a new episode in every environment."""
        _, infos = self.env.reset()
        return self.env.observations, infos

    def get_state(self) -> list:
        return self.env.get_state()

    def set_state(self, states: list) -> list:
        self.env.set_state(states)
        return self.env.observations

    def step(self, actions: np.ndarray, keep_final_observations: bool = False) -> tuple:
        """One step of every environment: (observations, rewards, terminated, truncated, infos).

        An ended episode's last observation (info["final_observation"]) is
        sent only when asked for: PPO does not use it, and leaving it out
        halves what a finishing step sends back.
        """
        _, rewards, terminated, truncated, infos = self.env.step(actions)
        if not keep_final_observations:
            infos = [{key: value for key, value in info.items() if key != "final_observation"} for info in infos]
        return self.env.observations, rewards, terminated, truncated, infos

    def replay(self, anchor_states: Optional[list], action_log: Sequence[np.ndarray], keep_final_observations: bool = False) -> tuple:
        """Restores an anchor (None: a fresh reset), then steps `action_log`.

        Returns:
            (rewards [steps, envs], dones [steps, envs], the last step's
            result as `step` returns it, or the anchor's observations when
            the log is empty).
        """
        observations = self.reset()[0] if anchor_states is None else self.set_state(anchor_states)
        rewards, dones, last = [], [], observations
        for actions in action_log:
            last = self.step(actions, keep_final_observations)
            rewards.append(last[1])
            dones.append(last[2] | last[3])
        return np.asarray(rewards), np.asarray(dones), last


def _absolute_paths(env_spec: dict) -> dict:
    """Env arguments with relative file paths made absolute (workers may run in another folder)."""
    resolved = dict(env_spec)
    for key in _ENV_PATH_KEYS:
        value = resolved.get(key)
        if isinstance(value, str) and os.path.exists(value):
            resolved[key] = os.path.abspath(value)
    return resolved


class RemoteBatchedEnv:
    """BatchedXflowEnv's interface over Ray actors that hold the environments.

    Args:
        env_spec: XflowEnv arguments.
        num_envs: environments in all.
        num_workers: actors; environment i lives on worker i * num_workers // num_envs
            (contiguous shares, sizes differing by at most one).
        num_xfers: the rule library's size (the NO-OP id).
        worker_options: options for `ray.remote` (num_cpus, ...).
        start_timeout_seconds: how long to wait for the workers to start.
        max_replacements: dead workers replaced before giving up.
    """

    def __init__(self, env_spec: dict, num_envs: int, num_workers: int, num_xfers: int, worker_options: dict,
                 start_timeout_seconds: float = 300.0, max_replacements: int = 10):
        import ray

        self.env_spec = env_spec
        self.num_envs, self.num_xfers = num_envs, num_xfers
        self.shares = [len(part) for part in np.array_split(np.arange(num_envs), num_workers)]
        self.bounds = np.concatenate([[0], np.cumsum(self.shares)]).tolist()
        self.start_timeout_seconds = start_timeout_seconds
        self.max_replacements = max_replacements
        self.replacements = 0
        self._actor_class = ray.remote(**worker_options)(EnvWorker)
        self.workers: list = [None] * num_workers
        self.observations: list = []
        self._anchors: list = [None] * num_workers
        self._action_logs: list = [[] for _ in range(num_workers)]
        self._reward_logs: list = [[] for _ in range(num_workers)]
        self._done_logs: list = [[] for _ in range(num_workers)]
        for index in range(num_workers):
            self.workers[index] = self._actor_class.remote(env_spec, self.shares[index])
        self._wait_until_started(list(range(num_workers)))

    def _wait_until_started(self, indices: list) -> None:
        import ray

        try:
            ray.get([self.workers[index].process_id.remote() for index in indices], timeout=self.start_timeout_seconds)
        except ray.exceptions.GetTimeoutError:
            raise RuntimeError(
                f"Ray execution: {len(indices)} environment worker(s) did not start within {self.start_timeout_seconds:.0f} s; "
                f"the cluster has {ray.available_resources()} free of {ray.cluster_resources()} "
                "(lower execution.num_workers or execution.worker_cpus, or add nodes)") from None
        except ray.exceptions.RayTaskError as error:
            raise _cause(error) from None

    # The worker calls, with replacement of dead workers -----------------------
    def _gather(self, method: str, arguments_per_worker: list) -> list:
        """Calls `method` on every worker in parallel; replaces dead ones and re-runs their call."""
        import ray

        futures = [getattr(worker, method).remote(*arguments) for worker, arguments in zip(self.workers, arguments_per_worker)]
        results = []
        for index, future in enumerate(futures):
            while True:
                try:
                    results.append(ray.get(future))
                    break
                except ray.exceptions.RayActorError:
                    if method == "step":
                        # The failed step's actions were logged before the call,
                        # so the replay's last step is that step.
                        _, keep_final_observations = arguments_per_worker[index]
                        results.append(self._replace(index, keep_final_observations))
                        break
                    self._replace(index)
                    future = getattr(self.workers[index], method).remote(*arguments_per_worker[index])
                except ray.exceptions.RayTaskError as error:
                    raise _cause(error) from None
        return results

    def _replace(self, index: int, keep_final_observations: bool = False):
        """Starts a new actor for worker `index` and brings it to where the dead one was.

        Returns:
            The replay's last step as EnvWorker.step returns it (with final
            observations when `keep_final_observations`).
        """
        import ray

        if self.replacements >= self.max_replacements:
            raise RuntimeError(f"Ray execution: {self.replacements} environment workers died already (execution.max_worker_replacements); "
                               "giving up — look for the cause (memory, a crashing engine) in Ray's logs")
        self.replacements += 1
        try:
            ray.kill(self.workers[index], no_restart=True)
        except Exception:  # the handle of a dead actor may refuse; it is gone either way
            pass
        self.workers[index] = self._actor_class.remote(self.env_spec, self.shares[index])
        self._wait_until_started([index])
        log = self._action_logs[index]
        try:
            rewards, dones, last = ray.get(self.workers[index].replay.remote(self._anchors[index], log, keep_final_observations))
        except ray.exceptions.RayActorError:
            return self._replace(index, keep_final_observations)
        except ray.exceptions.RayTaskError as error:
            raise _cause(error) from None
        recorded = len(self._reward_logs[index])
        if recorded and not (np.array_equal(rewards[:recorded], np.asarray(self._reward_logs[index]))
                             and np.array_equal(dones[:recorded], np.asarray(self._done_logs[index]))):
            raise RuntimeError(f"Ray execution: worker {index} was replaced, but replaying its {len(log)} actions gave other "
                               "rewards or episode ends than recorded; the environment is not deterministic, so its "
                               "episodes cannot be re-run without changing collected data")
        return last

    def _anchor(self, states: Optional[list]) -> None:
        """Makes `states` (per worker; None = fresh reset) the point replays start from."""
        self._anchors = list(states) if states is not None else [None] * len(self.workers)
        self._action_logs = [[] for _ in self.workers]
        self._reward_logs = [[] for _ in self.workers]
        self._done_logs = [[] for _ in self.workers]

    def _split(self, rows) -> list:
        return [rows[start:end] for start, end in zip(self.bounds[:-1], self.bounds[1:])]

    # BatchedXflowEnv's interface ------------------------------------------------
    def reset(self):
        self._anchor(None)
        per_worker = self._gather("reset", [() for _ in self.workers])
        self.observations = [observation for observations, _ in per_worker for observation in observations]
        return batch_observations(self.observations), [info for _, infos in per_worker for info in infos]

    def start_rollout(self) -> None:
        """Anchors replays at the workers' current states (bounds a replay to one rollout)."""
        self._anchor(self._gather("get_state", [() for _ in self.workers]))

    def get_state(self) -> list:
        return [state for states in self._gather("get_state", [() for _ in self.workers]) for state in states]

    def set_state(self, states: list) -> dict:
        if len(states) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} environment states, got {len(states)}")
        per_worker_states = self._split(list(states))
        self._anchor(per_worker_states)
        per_worker = self._gather("set_state", [(worker_states,) for worker_states in per_worker_states])
        self.observations = [observation for observations in per_worker for observation in observations]
        return batch_observations(self.observations)

    def step(self, actions, keep_final_observations: bool = False):
        """BatchedXflowEnv.step over the workers; an ended episode's info has its
        "final_observation" only when `keep_final_observations`."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, 2) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be integers of shape ({self.num_envs}, 2), got {actions.dtype} {actions.shape}")
        per_worker_actions = self._split(actions)
        for index, worker_actions in enumerate(per_worker_actions):
            self._action_logs[index].append(worker_actions)
        results = self._gather("step", [(worker_actions, keep_final_observations) for worker_actions in per_worker_actions])
        for index, (_, rewards, terminated, truncated, _) in enumerate(results):
            self._reward_logs[index].append(np.asarray(rewards))
            self._done_logs[index].append(np.asarray(terminated) | np.asarray(truncated))
        self.observations = [observation for result in results for observation in result[0]]
        rewards = np.concatenate([result[1] for result in results]).astype(np.float32)
        terminated = np.concatenate([result[2] for result in results])
        truncated = np.concatenate([result[3] for result in results])
        infos = [info for result in results for info in result[4]]
        return batch_observations(self.observations), rewards, terminated, truncated, infos

    def worker_process_ids(self) -> list:
        """Each worker's operating-system process id (for monitoring, and the worker-kill test)."""
        return self._gather("process_id", [() for _ in self.workers])

    def close(self) -> None:
        import ray

        for worker in self.workers:
            if worker is not None:
                try:
                    ray.kill(worker, no_restart=True)
                except Exception:  # a worker that already died needs no killing
                    pass
        self.workers = [None] * len(self.workers)


def _cause(error):
    """The exception a worker raised (a ValueError for a bad action, ...), not Ray's wrapper."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


def _check_address(address, where: str) -> Optional[str]:
    if address is None:
        return None
    if not isinstance(address, str) or not address or (address != "auto" and ":" not in address):
        raise SpecError(where, f"expected null (start a local Ray), 'auto' (join this machine's cluster) or "
                               f"'ray://host:port' / 'host:port', got {address!r}")
    return address


@EXECUTIONS.register("ray")
class RayExecution(LocalExecution):
    """Collects rollouts from environment workers that are Ray actors.

    Args:
        env_spec: XflowEnv arguments (the config's `env:` without `type`).
        num_envs: environments in all, shared out over the workers.
        num_workers: Ray actors stepping environments (at most num_envs).
        address: None starts a local Ray for this run (shut down at close);
            "auto" or "ray://host:port" uses a running cluster.
        worker_cpus: CPUs each worker reserves in Ray's scheduler.
        worker_start_timeout_seconds: how long workers may take to start.
        max_worker_replacements: dead workers replaced before the run fails.

    Example (YAML): `execution: {type: ray, num_workers: 2, address: null}`.
    """

    def __init__(self, env_spec: dict, num_envs: int, num_workers: int = 2, address: Optional[str] = None,
                 worker_cpus: float = 1, worker_start_timeout_seconds: float = 300.0, max_worker_replacements: int = 10,
                 key_path: str = "execution"):
        check_int_at_least(num_envs, "agent.num_envs", 1)
        check_int_at_least(num_workers, f"{key_path}.num_workers", 1)
        if num_workers > num_envs:
            raise SpecError(f"{key_path}.num_workers", f"expected at most agent.num_envs = {num_envs} workers "
                                                      f"(each worker steps at least one environment), got {num_workers}")
        address = _check_address(address, f"{key_path}.address")
        check_non_negative_number(worker_cpus, f"{key_path}.worker_cpus")
        check_positive_number(worker_start_timeout_seconds, f"{key_path}.worker_start_timeout_seconds")
        check_int_at_least(max_worker_replacements, f"{key_path}.max_worker_replacements", 0)
        env_spec = _absolute_paths(env_spec)
        # Built here first: a bad env spec fails with its key path before Ray
        # starts, and the learner keeps an environment for sizes, names and
        # the initial graph (used after close(), for evaluation).
        self._sample_env = XflowEnv(**env_spec)
        self.env_spec = env_spec
        self.num_envs = num_envs
        self.num_workers = num_workers
        self.observation = None
        self._initial_runtimes: list = []
        self._episodes: list = []
        local_cpus = max(os.cpu_count() or 1, int(np.ceil(num_workers * worker_cpus)))
        self.session = RaySession(address, num_cpus=local_cpus, key_path=key_path)
        try:
            self.env = RemoteBatchedEnv(env_spec, num_envs, num_workers, self._sample_env.num_xfers,
                                        {"num_cpus": worker_cpus}, worker_start_timeout_seconds, max_worker_replacements)
        except BaseException:
            self.session.shutdown()
            raise

    @property
    def sample_env(self):
        """An environment in the learner's process (valid after close())."""
        return self._sample_env

    @property
    def replaced_workers(self) -> int:
        """How many dead workers were replaced so far."""
        return self.env.replacements

    def worker_process_ids(self) -> list:
        return self.env.worker_process_ids()

    def collect(self, agent, buffer) -> list:
        """As LocalExecution.collect; a worker that dies is replaced and its part of the rollout re-run."""
        if self.observation is None:
            self.reset()
        self.env.start_rollout()
        return super().collect(agent, buffer)

    def collect_transitions(self, steps_per_env: int, choose_actions) -> list:
        """As LocalExecution.collect_transitions (collect_random_transitions goes through it too, so the same
        `rng` state gives the same transitions as in-process); a worker that dies is replaced and its part re-run."""
        if self.observation is None:
            self.reset()
        self.env.start_rollout()
        return super().collect_transitions(steps_per_env, choose_actions)

    def _step(self, actions: np.ndarray, keep_final_observations: bool):
        return self.env.step(actions, keep_final_observations=keep_final_observations)

    def close(self) -> None:
        """Stops the workers, then the local Ray this execution started; idempotent."""
        env = getattr(self, "env", None)
        try:
            if env is not None:
                env.close()
        finally:
            self.session.shutdown()
