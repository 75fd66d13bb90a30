"""Executor: composes nothing, but traces, builds and runs a component graph.

Classes in this file:
  BuildStats: trace seconds, build seconds (with their split into variable
    creation and each root API's tf.function), variable and parameter counts.
  Executor: traces and builds a root component for given input spaces, calls
    its built APIs with numpy (or tensors) and returns numpy, saves and
    restores checkpoints, and writes the built graph for TensorBoard.
"""
from __future__ import annotations

import dataclasses
import inspect
import time
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import tree

from rlgraph_xflow.core import checkpoint
from rlgraph_xflow.core.meta_graph import MetaGraph, describe_spaces, trace
from rlgraph_xflow.core.spaces import Space, SpaceError, space_from_spec
from rlgraph_xflow.core.tf_builder import build_root_function, create_variables


@dataclasses.dataclass
class BuildStats:
    """Where building a component graph spent its time, and what it made.

    Attributes:
        trace_seconds: the trace phase (meta-graph, space checks).
        build_seconds: the build phase: variable_seconds plus the sum of
            function_seconds.
        variable_count, parameter_count: variables and their total size.
        variable_seconds: creating every component's variables.
        function_seconds: root API name -> seconds to make and trace its
            tf.function.
    """

    trace_seconds: float
    build_seconds: float
    variable_count: int
    parameter_count: int
    variable_seconds: float = 0.0
    function_seconds: dict = dataclasses.field(default_factory=dict)


class Executor:
    """Runs a component graph.

    Args:
        root: the composed root component.
        input_spaces: argument name -> Space (or space spec) for the root APIs.
        apis: which root APIs to build (default: all).

    Example:
        >>> executor = Executor(policy, {"observations": FloatBox((4,), batch_rank=True)})
        >>> actions = executor.execute("get_action", observations)
    """

    def __init__(self, root, input_spaces: Mapping[str, Any], apis: Optional[Sequence[str]] = None):
        self.root = root
        self.input_spaces = {name: space_from_spec(spec, f"input_spaces.{name}") for name, spec in input_spaces.items()}
        start = time.perf_counter()
        self.meta_graph: MetaGraph = trace(root, self.input_spaces, apis)
        traced = time.perf_counter()
        create_variables(root)
        variables_created = time.perf_counter()
        self.functions = {}
        function_seconds = {}
        for name, root_api in self.meta_graph.root_apis.items():
            function_start = time.perf_counter()
            self.functions[name] = build_root_function(root, root_api)
            function_seconds[name] = time.perf_counter() - function_start
        built = time.perf_counter()
        variables = root.variables_recursive()
        self.stats = BuildStats(
            trace_seconds=traced - start,
            build_seconds=built - traced,
            variable_count=len(variables),
            parameter_count=int(sum(np.prod(v.shape) for v in variables.values())),
            variable_seconds=variables_created - traced,
            function_seconds=function_seconds,
        )

    def execute(self, api_name: str, *args, **kwargs):
        """Calls a built root API; inputs are checked against their spaces.

        Returns:
            The API's outputs as numpy arrays (same nesting).

        Raises:
            ValueError: for an unknown API or an input outside its space.
        """
        import tensorflow as tf

        if api_name not in self.functions:
            raise ValueError(f"'{self.root.global_scope}' has no built API {api_name!r}; built: {sorted(self.functions)}")
        root_api = self.meta_graph.root_apis[api_name]
        parameters = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in root_api.argument_names]
        try:
            bound = inspect.Signature(parameters).bind(*args, **kwargs)
        except TypeError as error:
            raise ValueError(f"API {api_name!r} takes {root_api.argument_names}: {error}") from None
        tensors = []
        for name in root_api.argument_names:
            space: Space = root_api.input_spaces[name]
            value = bound.arguments[name]
            problem = space.mismatch(value)
            if problem:
                raise SpaceError(f"API {api_name!r}, argument {name!r}: value not in {space!r}: {problem}")
            tensors.append(tree.map_structure(lambda v, spec: tf.convert_to_tensor(v, dtype=spec.dtype), value, space.tensor_spec()))
        outputs = self.functions[api_name](*tensors)
        return tree.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, outputs)

    def variable_values(self) -> dict:
        """Full variable name -> numpy value."""
        return {name: variable.numpy() for name, variable in self.root.variables_recursive().items()}

    def save(self, path: str) -> str:
        """Writes all variables to `path` atomically."""
        return checkpoint.save_variables(self.root.variables_recursive(), path)

    def restore(self, path: str) -> None:
        """Restores all variables from a checkpoint written by `save`."""
        checkpoint.restore_variables(self.root.variables_recursive(), path)

    def write_tensorboard_graph(self, log_dir: str) -> None:
        """Writes each built API's TF graph as a TensorBoard graph summary."""
        import tensorflow as tf

        writer = tf.summary.create_file_writer(log_dir)
        with writer.as_default():
            for function in self.functions.values():
                tf.summary.graph(function.get_concrete_function().graph)
        writer.flush()
        writer.close()

    def summary(self) -> str:
        """Component tree, root APIs with spaces, variable counts and timings."""
        lines = ["Component tree:"]
        for component in self.root.components_recursive():
            depth = component.global_scope.count("/")
            count = sum(int(np.prod(v.shape)) for v in component.variables.values())
            lines.append(f"  {'  ' * depth}{component.scope} ({type(component).__name__}): {len(component.variables)} variables, {count} parameters")
        lines.append("Root APIs:")
        for name, root_api in self.meta_graph.root_apis.items():
            lines.append(f"  {name}({describe_spaces(root_api.input_spaces)}) -> {describe_spaces(root_api.output_spaces)}")
        stats = self.stats
        lines.append(
            f"Variables: {stats.variable_count} ({stats.parameter_count} parameters). "
            f"Trace: {stats.trace_seconds:.3f} s. Build: {stats.build_seconds:.3f} s "
            f"(variables {stats.variable_seconds:.3f} s; " + ", ".join(
                f"{name} {seconds:.3f} s" for name, seconds in stats.function_seconds.items()) + ")."
        )
        return "\n".join(lines)
