"""`python -m rlgraph_xflow.run CONFIG [key=value ...] [--out DIR] [--dry-run]`

Wires a config to a component graph and runs it:
  1. load the YAML (with bases and command-line overrides);
  2. compose the declared root component (`model:`) from its spec;
  3. trace it with `input_spaces:` and build it into TensorFlow;
  4. print a summary and write the run directory: the resolved config,
     `meta_graph.dot`, and, without --dry-run, a TensorBoard graph, a
     checkpoint, and the outputs of every root API on sampled inputs.

A config naming an agent or an environment is checked against their
registries; a type that does not exist fails with one sentence, not a
traceback. Every user error exits with status 2 and a message that names
the file, line and key path.
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

TOP_LEVEL_KEYS = ("name", "description", "seed", "model", "input_spaces", "agent", "env", "execution")
EXIT_USER_ERROR = 2


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
    return parser.parse_args(argv)


def _check_top_level(config) -> None:
    for key in config:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(str(config.error(key, f"unknown top-level key {key!r}{hint} Known keys: {', '.join(TOP_LEVEL_KEYS)}.")))


def _check_not_yet_available(config) -> None:
    """Agents and environments: only registered types can be named."""
    from rlgraph_xflow.agents import AGENTS
    from rlgraph_xflow.env import ENVIRONMENTS
    from rlgraph_xflow.core.registry import SpecError

    for key, registry in (("agent", AGENTS), ("env", ENVIRONMENTS)):
        if key not in config:
            continue
        spec = config.get(key)
        type_name = spec.get("type") if isinstance(spec, dict) else spec
        try:
            registry.lookup(type_name, f"{key}.type")
        except SpecError as error:
            raise UserError(str(config.error(error.key_path, error.message))) from None
        raise UserError(str(config.error(key, f"running a {registry.kind} from run.py is not supported yet")))


def _compose(config):
    import rlgraph_xflow.components  # noqa: F401  (registers the component types)
    from rlgraph_xflow.core import space_from_spec
    from rlgraph_xflow.core.registry import SpecError, from_spec
    from rlgraph_xflow.core.spaces import SpaceError

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = _parse_arguments(argv)
    from rlgraph_xflow.config import ConfigError, load_config
    from rlgraph_xflow.core import Executor
    from rlgraph_xflow.core.meta_graph import TraceError
    from rlgraph_xflow.core.spaces import SpaceError

    try:
        config = load_config(arguments.config, arguments.overrides)
        _check_top_level(config)
        _check_not_yet_available(config)
        root, input_spaces = _compose(config)
        from rlgraph_xflow.tf_runtime import load_tensorflow

        load_tensorflow()
        try:
            executor = Executor(root, input_spaces)
        except (TraceError, SpaceError) as error:
            raise UserError(_locate_trace_error(config, root, error)) from None
    except (ConfigError, UserError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR

    run_dir = arguments.out or _default_run_dir(config)
    os.makedirs(run_dir, exist_ok=True)
    config.save(run_dir)
    with open(os.path.join(run_dir, "meta_graph.dot"), "w") as stream:
        stream.write(executor.meta_graph.to_dot())
    print(executor.summary())
    if arguments.dry_run:
        print(f"Dry run: wrote {os.path.join(run_dir, 'meta_graph.dot')}")
        return 0

    executor.write_tensorboard_graph(os.path.join(run_dir, "tensorboard"))
    results = _exercise_apis(executor, input_spaces, int(config.get("seed", 0) or 0))
    with open(os.path.join(run_dir, "api_outputs.json"), "w") as stream:
        json.dump(results, stream, indent=2)
    executor.save(os.path.join(run_dir, "checkpoints", "final.npz"))
    print(f"Ran {len(results)} root API(s) on sampled inputs; run directory: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
