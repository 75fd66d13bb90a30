"""`python -m rlgraph_xflow.run CONFIG [key=value ...] [--out DIR] [--dry-run] [--resume]`

The command behind the rlgraph_xflow.run entry point. Wires a config to
what it declares and runs it. Two kinds of config:

* An agent run (`agent:`, `env:`, optional `execution:` and `training:`):
  composes the environments, the execution and the agent's component graph,
  trains with a progress bar (metrics.csv, TensorBoard, atomic checkpoints;
  `--resume` continues from the last one), evaluates the greedy policy in the
  real environment, exports and verifies its graph in onnxruntime
  (optimized.onnx, result.json) and writes report.md with plots.
* A plain component graph (`model:` and `input_spaces:`): composes, traces
  and builds it, then calls every root API on sampled inputs.

`--dry-run` composes, traces and builds, prints the summary (component
tree, root APIs with their spaces, variables, trace and build seconds) and
writes meta_graph.dot, then exits. Every user error exits with status 2 and
one line that names the file, line and key path.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np
import tree

import rlgraph_xflow.components  # noqa: F401  (registers the component types)
from rlgraph_xflow.runs.agent_run import build_agent_run, run_agent
from rlgraph_xflow.config import ConfigError, load_config
from rlgraph_xflow.core import Executor, space_from_spec
from rlgraph_xflow.core.meta_graph import TraceError
from rlgraph_xflow.core.registry import SpecError, from_spec
from rlgraph_xflow.core.spaces import SpaceError
from rlgraph_xflow.graphs.latency import latency_line
from rlgraph_xflow.optimize.pipeline import VerificationFailed
from rlgraph_xflow.tf_runtime import load_tensorflow

TOP_LEVEL_KEYS = ("name", "description", "seed", "model", "input_spaces", "agent", "env", "execution", "training", "export")
EXIT_USER_ERROR = 2
EXIT_NOT_VERIFIED = 3


class UserError(Exception):
    """An error in the user's config or command line; printed without traceback."""


def _parse_arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rlgraph_xflow.run",
        description="Build and run the component graph declared in a YAML config.",
    )
    parser.add_argument("config", help="path of the YAML config")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. model.head.num_actions=4")
    parser.add_argument("--out", help="run directory (default: runs/<name>-<timestamp>)")
    parser.add_argument("--dry-run", action="store_true", help="compose, trace and build, print the summary, write meta_graph.dot, exit")
    parser.add_argument("--resume", action="store_true", help="continue an agent run from the last checkpoint in --out")
    return parser.parse_args(argv)


def _check_top_level(config) -> None:
    for key in config:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(str(config.error(key, f"unknown top-level key {key!r}{hint} Known keys: {', '.join(TOP_LEVEL_KEYS)}.")))


def _compose(config):
    if "model" not in config:
        raise UserError(str(config.error("model", "the config declares no component graph: add a 'model:' component spec")))
    try:
        root = from_spec(config.get("model"), "model")
    except SpecError as error:
        raise UserError(str(config.error(error.key_path, error.message))) from None
    spaces_spec = config.get("input_spaces")
    if not isinstance(spaces_spec, dict) or not spaces_spec:
        raise UserError(str(config.error("input_spaces", "expected a mapping of API argument name -> space spec")))
    input_spaces = {}
    for name, spec in spaces_spec.items():
        try:
            input_spaces[name] = space_from_spec(spec, f"input_spaces.{name}")
        except SpaceError as error:
            raise UserError(f"{config.location(f'input_spaces.{name}')}: {error}") from None
    return root, input_spaces


def _locate_trace_error(config, root, error) -> str:
    """Points a trace-time error at the YAML spec of the failing component."""
    key_path = "model"
    for component in root.components_recursive():
        if component.global_scope == getattr(error, "component", None) and component.key_path:
            key_path = component.key_path
    return f"{config.location(key_path)}: {key_path}: {error}"


def _default_run_dir(config) -> str:
    name = config.get("name") or os.path.splitext(os.path.basename(config.source_path))[0]
    return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def _exercise_apis(executor, input_spaces, seed: int) -> dict:
    """Calls every built root API on a batch of sampled inputs."""
    rng = np.random.default_rng(seed)
    results = {}
    for name, root_api in executor.meta_graph.root_apis.items():
        inputs = []
        for argument in root_api.argument_names:
            space = input_spaces[argument]
            size = (4,) * space.leading_rank_count
            inputs.append(space.sample(size if size else None, rng))
        outputs = executor.execute(name, *inputs)
        results[name] = tree.map_structure(lambda value: np.asarray(value).tolist(), outputs)
    return results


def _run_component_graph(config, arguments) -> int:
    root, input_spaces = _compose(config)
    load_tensorflow()
    try:
        executor = Executor(root, input_spaces)
    except (TraceError, SpaceError) as error:
        raise UserError(_locate_trace_error(config, root, error)) from None
    run_dir = _prepare_run_dir(config, arguments)
    _write_meta_graph(executor, run_dir)
    if arguments.dry_run:
        return 0
    executor.write_tensorboard_graph(os.path.join(run_dir, "tensorboard"))
    results = _exercise_apis(executor, input_spaces, int(config.get("seed", 0) or 0))
    with open(os.path.join(run_dir, "api_outputs.json"), "w") as stream:
        json.dump(results, stream, indent=2)
    executor.save(os.path.join(run_dir, "checkpoints", "final.npz"))
    print(f"Ran {len(results)} root API(s) on sampled inputs; run directory: {run_dir}")
    return 0


def _prepare_run_dir(config, arguments) -> str:
    run_dir = arguments.out or _default_run_dir(config)
    os.makedirs(run_dir, exist_ok=True)
    config.save(run_dir)
    return run_dir


def _write_meta_graph(executor, run_dir: str) -> None:
    with open(os.path.join(run_dir, "meta_graph.dot"), "w") as stream:
        stream.write(executor.meta_graph.to_dot())
    print(executor.summary())


def _run_agent(config, arguments) -> int:
    if arguments.resume and not arguments.out:
        raise UserError("--resume needs --out DIR: the run directory to continue")
    load_tensorflow()
    if arguments.dry_run:
        try:
            run = build_agent_run(config)
        except (TraceError, SpaceError) as error:
            raise UserError(f"{config.location('agent')}: agent: {error}") from None
        run_dir = _prepare_run_dir(config, arguments)
        _write_meta_graph(run.agent.executor, run_dir)
        run.execution.close()
        return 0
    run_dir = _prepare_run_dir(config, arguments)
    result = run_agent(config, run_dir, resume=arguments.resume)
    print(_summary_line(result, run_dir))
    if result["export_note"]:
        print(f"note: {result['export_note']}")
    return 0


def _summary_line(result: dict, run_dir: str) -> str:
    """An agent run's last line: real latency first, then the estimate named by its cost model and device.

    Example (one line):
        ppo on squeezenet1_1: onnxruntime CPU latency 2.341 -> 2.298 ms (-1.8% ± 2.0%, same); estimated cost
        (analytic h100) 0.3400 -> 0.2100 ms (-38.2%; random agent 0.3300 ms); exported: greedy_policy,
        verified: true; run directory: runs/x
    """
    latency = latency_line(result["latency_ms_original"], result["latency_ms_optimized"], result["latency_change"],
                           result["latency_noise"], result["latency_verdict"])
    random_cost = result.get("random_agent_final_cost_ms")
    random_text = f"; random agent {random_cost:.4f} ms" if random_cost is not None else ""
    return (f"{result['agent']} on {result['model']}: {latency}; estimated cost ({result['cost_model']} {result['device']}) "
            f"{result['initial_cost_ms']:.4f} -> {result['final_cost_ms']:.4f} ms ({-100 * result['cost_reduction']:+.1f}%{random_text}); "
            f"exported: {result['result_source']}, verified: {str(result['verified']).lower()}; run directory: {run_dir}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = _parse_arguments(argv)
    try:
        config = load_config(arguments.config, arguments.overrides)
        _check_top_level(config)
        try:
            if "agent" in config or "env" in config:
                return _run_agent(config, arguments)
            return _run_component_graph(config, arguments)
        except SpecError as error:
            raise UserError(str(config.error(error.key_path, error.message))) from None
    except (ConfigError, UserError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except VerificationFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_VERIFIED
