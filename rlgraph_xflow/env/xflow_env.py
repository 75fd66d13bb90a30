"""XflowEnv: graph optimisation as a gymnasium environment (dissertation 3.2).

Classes and functions in this file:
  XflowEnv: one computation graph; an action (xfer_id, location) applies
    one substitution. Registered as environment type "xflow".
  resolve_graph: a zoo name, an ONNX path or an XflowGraph -> XflowGraph.
  shared_measured_cost_model: the process's MeasuredCostModel for a device
    and cost cache, built once and shared by every environment that prices
    with it.

Episode rules:
  * xfer_id == N (NO-OP) ends the episode (terminated) and leaves the graph
    unchanged, with reward 0;
  * a valid action applies the substitution and is rewarded by the reward
    function (incremental runtime saving by default), plus, with
    `novelty_bonus` b > 0, b / sqrt(n) where n counts the times this env has
    reached the resulting graph (by canonical hash, across episodes, this
    visit included): a count-based exploration bonus (MBIE-EB's form) that
    pays for cost-neutral steps into graphs not seen before, and little for
    undoing a step;
  * an invalid action (a masked xfer or location) is rewarded
    `invalid_reward` (-100), changes nothing and sets info["invalid"];
  * the episode also terminates when no xfer applies any more, and is
    truncated after `max_steps` steps;
  * a malformed action (wrong shape, type or range) raises ValueError.
`info` holds runtime_ms, flops, mem_access_bytes, kernel_launches, the
applied xfer's name ("NO-OP", or None when nothing was applied), whether the
action was invalid, and the step's wall seconds (`step_seconds`; left out
with `time_steps=False`, since a wall time differs between two otherwise
identical steps and gymnasium's determinism check compares infos).

Costs: `cost_model: analytic` (the default) prices with the roofline of the
device profile `device` (default h100); `cost_model: measured` prices by the
kernels onnxruntime's CPU provider launches, from the measured kernel table
of `device` (None or "local": this machine's, measuring the kernels it lacks
into the cost cache; otherwise another machine's table in the cost cache,
which must hold every kernel the episode meets). Measured environments of
one process share one pricer per (device, cache file), so each kernel is
measured once and later steps are table lookups.

The state machine, the matcher and the observation features live in C++
(ops/engine/environment.h); this class converts and validates.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Optional

import gymnasium
import numpy as np

from rlgraph_xflow.core.registry import SpecError, did_you_mean
from rlgraph_xflow.core.validation import check_choice, check_int_at_least, check_non_negative_number, check_number, is_int
from rlgraph_xflow.env.graph_tuple_space import GraphsTupleSpace
from rlgraph_xflow.env.observation import (EDGE_FEATURE_SIZE, GLOBAL_FEATURE_SIZE, GRAPH_TUPLE, LOCATION_MASKS,
                                           PADDING_INDEX, XFER_MASK, XFER_TUPLES)
from rlgraph_xflow.env.registry import ENVIRONMENTS
from rlgraph_xflow.env.rewards import CostMetrics, reward_from_spec
from rlgraph_xflow.graphs import XflowGraph, load, substitutions, zoo
from rlgraph_xflow.graphs.cost_cache import default_cache_path
from rlgraph_xflow.graphs.cost_models import COST_MODELS, DEFAULT_ANALYTIC_DEVICE
from rlgraph_xflow.graphs.errors import CostError
from rlgraph_xflow.graphs.kernel_costs import MeasuredCostModel, local_device_name
from rlgraph_xflow.ops import EnvironmentState, Graph, device_profiles, node_feature_size
from rlgraph_xflow.tf_runtime import load_tensorflow

NO_OP_NAME = "NO-OP"
# (device key, cost cache path) -> MeasuredCostModel; see shared_measured_cost_model.
_MEASURED_COST_MODELS: dict = {}


def shared_measured_cost_model(device: Optional[str] = None):
    """The process's MeasuredCostModel of `device` over the default cost cache.

    One per (device key, cost cache path), so every environment of a process
    (a BatchedXflowEnv's, the evaluation env, replays) shares one KernelPricer:
    a kernel is measured (or looked up) once, then priced from the pricer's
    memory. A changed $RLGRAPH_XFLOW_CACHE_DIR is another cache, so another model.

    Args:
        device: None or "local" for this machine's table; else the device
            key of a table in the cost cache.

    Raises:
        CostError: from MeasuredCostModel: no table for `device`, or one
            without its calibrated overheads.
    """
    key = (local_device_name() if device in (None, "local") else device, str(default_cache_path()))
    model = _MEASURED_COST_MODELS.get(key)
    if model is None:
        model = _MEASURED_COST_MODELS[key] = MeasuredCostModel(device=device)
    return model


def resolve_graph(graph, batch_size: int = 1, sequence_length: Optional[int] = None, key_path: str = "env.graph",
                  graph_options: Optional[dict] = None):
    """Turns a zoo name, an .onnx path or an XflowGraph into an XflowGraph.

    Args:
        graph_options: more zoo.build options of a zoo model (e.g. bert_base's
            {layers: 2}); refused for an .onnx path; ignored for an
            XflowGraph, which is built already.

    Raises:
        SpecError: naming key_path, when `graph` is none of those, or naming
            `<key_path>_options` when the options are not the model's.
    """
    if isinstance(graph, XflowGraph):
        return graph  # already built (with whatever options built it)
    options_path = f"{key_path}_options"
    if graph_options is not None and not isinstance(graph_options, dict):
        raise SpecError(options_path, f"expected a mapping of zoo.build options, e.g. {{layers: 2}}, got {graph_options!r}")
    if graph_options and not (isinstance(graph, (str, os.PathLike)) and os.fspath(graph) in zoo.names()):
        raise SpecError(options_path, f"options apply to zoo models only, not {graph!r}")
    if isinstance(graph, (str, os.PathLike)):
        name = os.fspath(graph)
        if name in zoo.names():
            options = dict(graph_options or {})
            if sequence_length is not None and name == "bert_base":
                options["sequence_length"] = sequence_length
            try:
                model = zoo.build(name, batch_size=batch_size, **options)
            except (TypeError, ValueError) as error:
                raise SpecError(options_path, str(error)) from None
            return load(model)
        if name.endswith(".onnx") or os.path.exists(name):
            return load(name, batch_size=batch_size)
        hint = did_you_mean(name, zoo.names())
        raise SpecError(key_path, f"{name!r} is neither a zoo model{hint} nor an .onnx file; zoo models: {', '.join(zoo.names())}")
    raise SpecError(key_path, f"expected a zoo model name, an .onnx path or an XflowGraph, got {type(graph).__name__}")


@ENVIRONMENTS.register("xflow")
class XflowEnv(gymnasium.Env):
    """Applies substitutions to one computation graph.

    Args:
        graph: a zoo name ("squeezenet1_1"), an .onnx path, or an XflowGraph.
        rules: a rule file/directory (default: the packaged library) or a
            loaded RuleLibrary.
        reward: a reward spec ("incremental", {type: weighted, alpha, beta}).
        max_locations: L, the location cap per xfer.
        max_steps: steps after which an episode is truncated.
        invalid_reward: reward of an invalid action.
        cost_model: "analytic" (roofline of a device profile) or "measured"
            (onnxruntime's kernels, from a measured table).
        device: with "analytic", the profile ("h100" (default), "v100",
            "rtx2070", "cpu"); with "measured", None or "local" (this
            machine's table) or the device key of a table in the cost cache.
            After construction, the profile or the table's device key.
        batch_size: batch size of zoo graphs and of symbolic batch dims.
        sequence_length: bert_base's sequence length.
        graph_options: more zoo.build options of a zoo graph, e.g. {layers: 2}
            for a 2-layer bert_base.
        time_steps: put the step's wall seconds into info.
        novelty_bonus: b of the count-based exploration bonus (0: none).

    Raises:
        SpecError: naming `<key_path>.<argument>` for a bad argument, e.g. an
            unknown cost_model, an unknown analytic profile, or a measured
            device whose table is not in the cost cache.
        CostError: with "measured" and another machine's table, when reset
            or step meets a kernel the table lacks (naming the kernel key
            and the device; the environment is left as it was).
    """

    metadata = {"render_modes": []}

    def __init__(self, graph: Any = "squeezenet1_1", rules: Any = None, reward: Any = "incremental", max_locations: int = 200,
                 max_steps: int = 100, invalid_reward: float = -100.0, device: Optional[str] = None, batch_size: int = 1,
                 sequence_length: Optional[int] = None, time_steps: bool = True, novelty_bonus: float = 0.0,
                 graph_options: Optional[dict] = None, cost_model: str = "analytic", key_path: str = "env"):
        for name, value in (("max_locations", max_locations), ("max_steps", max_steps), ("batch_size", batch_size)):
            check_int_at_least(value, f"{key_path}.{name}", 1)
        check_number(invalid_reward, f"{key_path}.invalid_reward")
        check_non_negative_number(novelty_bonus, f"{key_path}.novelty_bonus", finite=True)
        self.measured_cost_model = self._check_cost_model(cost_model, device, key_path)
        self.cost_model = cost_model
        if self.measured_cost_model is not None:
            device = self.measured_cost_model.device
        else:
            device = device or DEFAULT_ANALYTIC_DEVICE
        self.initial_graph = resolve_graph(graph, batch_size, sequence_length, f"{key_path}.graph", graph_options)
        self.library = rules if isinstance(rules, substitutions.RuleLibrary) else substitutions.load_rules(rules)
        self.reward_function = reward_from_spec(reward, f"{key_path}.reward")
        self.max_locations, self.max_steps = max_locations, max_steps
        self.invalid_reward = float(invalid_reward)
        self.device = device
        self.time_steps = bool(time_steps)
        self.novelty_bonus = float(novelty_bonus)
        self._visits: dict[int, int] = {}
        if self.measured_cost_model is not None:
            self._state = EnvironmentState(self.library, max_locations=max_locations,
                                           kernel_pricer=self.measured_cost_model.pricer)
        else:
            self._state = EnvironmentState(self.library, device, max_locations)
        self.num_xfers = len(self.library)
        self.max_pattern_ops = self._state.max_pattern_ops
        self.xfer_names = [self.library.rule_name(index) for index in range(self.num_xfers)]
        self.observation_space = gymnasium.spaces.Dict({
            GRAPH_TUPLE: GraphsTupleSpace(node_feature_size(), EDGE_FEATURE_SIZE, GLOBAL_FEATURE_SIZE),
            XFER_TUPLES: gymnasium.spaces.Box(PADDING_INDEX, np.iinfo(np.int32).max - 1,
                                              (self.num_xfers, max_locations, self.max_pattern_ops), np.int32),
            LOCATION_MASKS: gymnasium.spaces.Box(0, 1, (self.num_xfers, max_locations), np.bool_),
            XFER_MASK: gymnasium.spaces.Box(0, 1, (self.num_xfers + 1,), np.bool_),
        })
        self.action_space = gymnasium.spaces.MultiDiscrete([self.num_xfers + 1, max_locations])
        self._steps = 0
        self._started = False

    @staticmethod
    def _check_cost_model(cost_model: Any, device: Any, key_path: str):
        """Checks cost_model and device; returns the shared MeasuredCostModel for "measured", else None."""
        check_choice(cost_model, f"{key_path}.cost_model", COST_MODELS, "cost model")
        if device is not None and (not isinstance(device, str) or not device):
            raise SpecError(f"{key_path}.device", f"expected a device name (a non-empty string) or nothing, got {device!r}")
        if cost_model == "analytic":
            profiles = sorted(device_profiles())
            if device is not None and device not in profiles:
                raise SpecError(f"{key_path}.device", f"unknown device profile {device!r} for the analytic cost model; known: "
                                f"{', '.join(profiles)} (a measured kernel table's device needs {key_path}.cost_model: measured)")
            return None
        try:
            return shared_measured_cost_model(device)
        except CostError as error:
            # A config's base often names an analytic profile (device: h100); say so rather than only "no table".
            hint = ""
            if device in device_profiles():
                hint = (f"; {device!r} is an analytic device profile: with {key_path}.cost_model: measured, set "
                        f"{key_path}.device to local (this machine) or to the device key of a measured table")
            raise SpecError(f"{key_path}.device", f"no usable measured kernel table for {device!r}: {error}{hint}") from error

    # gymnasium API -------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        start = time.perf_counter()
        self._state.reset(self.initial_graph.engine)
        self._steps = 0
        self._started = True
        metrics = self.metrics
        self.reward_function.reset(metrics)
        if self.novelty_bonus:
            self._visit()
        return self.observe(), self._info(metrics, None, False, time.perf_counter() - start)

    def step(self, action):
        if not self._started:
            raise RuntimeError("XflowEnv.step called before reset()")
        xfer, location = self._parse_action(action)
        start = time.perf_counter()
        before = self.metrics
        invalid, applied, terminated = False, None, False
        if xfer == self.num_xfers:
            reward, applied, terminated = 0.0, NO_OP_NAME, True
        elif self._state.apply(xfer, location):
            applied = self.xfer_names[xfer]
            reward = self.reward_function(before, self.metrics)
            if self.novelty_bonus:
                reward += self.novelty_bonus / math.sqrt(self._visit())
        else:
            reward, invalid = self.invalid_reward, True
        self._steps += 1
        observation = self.observe()
        if not observation[XFER_MASK][:-1].any():
            terminated = True
        truncated = not terminated and self._steps >= self.max_steps
        after = self.metrics
        return observation, float(reward), terminated, truncated, self._info(after, applied, invalid, time.perf_counter() - start)

    # State -----------------------------------------------------------------------
    @property
    def metrics(self) -> CostMetrics:
        cost = self._state.cost()
        return CostMetrics(cost["runtime_ms"], cost["flops"], cost["mem_access_bytes"], int(cost["kernel_launches"]))

    @property
    def current_graph(self):
        """The current graph as an XflowGraph (shares the initial weights)."""
        return self.initial_graph.with_engine(self._state.graph())

    def get_state(self) -> dict:
        """What set_state needs to continue this episode exactly (graph bytes, step count, the reward's
        episode state when it keeps one (best_so_far's record), and the novelty bonus's visit counts
        when it is on)."""
        if not self._started:
            raise RuntimeError("XflowEnv.get_state called before reset()")
        state = {"graph": self._state.graph().to_bytes(), "steps": self._steps}
        reward_state = self.reward_function.get_state()
        if reward_state:
            state["reward"] = reward_state
        if self.novelty_bonus:
            state["visits"] = [[key, count] for key, count in self._visits.items()]
        return state

    def set_state(self, state: dict) -> None:
        """Continues an episode saved by get_state (the initial graph must be the same)."""
        self.reset()
        self._state.reset(Graph.from_bytes(state["graph"]))
        self._steps = int(state["steps"])
        self.reward_function.set_state(state.get("reward", {}))
        if self.novelty_bonus:
            self._visits = {int(key): int(count) for key, count in state.get("visits", [])}

    def _visit(self) -> int:
        """Counts a visit to the current graph; returns its visits so far, this one included."""
        key = self._state.graph_hash()
        self._visits[key] = self._visits.get(key, 0) + 1
        return self._visits[key]

    def location_counts(self) -> np.ndarray:
        return np.asarray(self._state.location_counts(), dtype=np.int32)

    # Helpers -----------------------------------------------------------------------
    def _parse_action(self, action) -> tuple[int, int]:
        try:
            items = list(action)
        except TypeError:
            items = None
        if items is None or len(items) != 2 or not all(is_int(item, allow_numpy=True) for item in items):
            raise ValueError(f"an action is (xfer_id, location): two integers; got {action!r}")
        xfer, location = int(items[0]), int(items[1])
        if not 0 <= xfer <= self.num_xfers:
            raise ValueError(f"xfer_id {xfer} is out of range [0, {self.num_xfers}] ({self.num_xfers} is NO-OP)")
        if not 0 <= location < self.max_locations:
            raise ValueError(f"location {location} is out of range [0, {self.max_locations})")
        return xfer, location

    def observe(self) -> dict:
        """The current observation (as reset and step return it)."""
        # graph_nets imports TensorFlow, so it is imported here, on the first
        # observation, and after TF was loaded quietly.
        load_tensorflow()
        from graph_nets import graphs

        raw = self._state.observe()
        graph_tuple = graphs.GraphsTuple(
            nodes=raw["nodes"], edges=raw["edges"], senders=raw["senders"], receivers=raw["receivers"],
            globals=raw["globals"][None, :], n_node=np.array([raw["nodes"].shape[0]], np.int32),
            n_edge=np.array([raw["edges"].shape[0]], np.int32),
        )
        return {GRAPH_TUPLE: graph_tuple, XFER_TUPLES: raw["xfer_tuples"], LOCATION_MASKS: raw["location_masks"],
                XFER_MASK: raw["xfer_mask"]}

    def _info(self, metrics: CostMetrics, applied: Optional[str], invalid: bool, seconds: float) -> dict:
        info = {
            "runtime_ms": metrics.runtime_ms,
            "flops": metrics.flops,
            "mem_access_bytes": metrics.mem_access_bytes,
            "kernel_launches": metrics.kernel_launches,
            "applied_xfer": applied,
            "invalid": invalid,
        }
        if self.time_steps:
            info["step_seconds"] = seconds
        return info
