"""The build phase: variables, then one tf.function per root API.

Functions in this file:
  create_variables: creates every component's variables (children first,
    once).
  build_root_function: wraps one traced root API in a `tf.function` whose
    input signature comes from the API's input spaces, and traces it.
  build: both of the above for every traced root API; each function is
    traced here, so errors surface at build time and the first call is fast.

The root functions are built without AutoGraph: API bodies only route values,
and graph functions that need AutoGraph ask for it themselves
(`@graph_fn(autograph=True)`, see component.py). Converting every API body,
and every Sonnet and graph_nets function they reach, took most of the build
time of the PPO agent (issue 6).
"""
from __future__ import annotations

from typing import Callable

from rlgraph_xflow.core.meta_graph import MetaGraph, RootApi


def _root_function(root, api_name: str, argument_names: list) -> Callable:
    method = getattr(root, api_name)

    def call(*tensors):
        return method(**dict(zip(argument_names, tensors)))

    call.__name__ = f"{root.global_scope}_{api_name}".replace("/", "_")
    return call


def create_variables(root) -> None:
    """Creates the variables of `root` and every component below it (idempotent).

    Args:
        root: the root component, already traced (so input spaces are known).
    """
    for component in reversed(root.components_recursive()):
        component.ensure_variables()


def build_root_function(root, root_api: RootApi) -> Callable:
    """Wraps one root API in a `tf.function` and traces it.

    Args:
        root: the root component, its variables created.
        root_api: the API as the trace phase recorded it (argument names and
            input spaces give the input signature).

    Returns:
        The `tf.function`, its one concrete function already traced.
    """
    import tensorflow as tf

    signature = [root_api.input_spaces[argument].tensor_spec() for argument in root_api.argument_names]
    function = tf.function(_root_function(root, root_api.name, root_api.argument_names), input_signature=signature,
                           autograph=False)
    function.get_concrete_function()
    return function


def build(root, meta_graph: MetaGraph) -> dict:
    """Builds the traced component graph into TF.

    Args:
        root: the root component, already traced into `meta_graph`.
        meta_graph: the result of `trace`.

    Returns:
        root API name -> tf.function with a fixed input signature.
    """
    create_variables(root)
    return {name: build_root_function(root, root_api) for name, root_api in meta_graph.root_apis.items()}
