"""The build phase: variables, then one tf.function per root API.

Functions in this file:
  build: creates every component's variables (children first, once) and wraps
    each traced root API in a `tf.function` whose input signature comes from
    the API's input spaces; each function is traced here, so errors surface at
    build time and the first call is fast.
"""
from __future__ import annotations

from typing import Callable

from rlgraph_xflow.core.meta_graph import MetaGraph


def _root_function(root, api_name: str, argument_names: list) -> Callable:
    method = getattr(root, api_name)

    def call(*tensors):
        return method(**dict(zip(argument_names, tensors)))

    call.__name__ = f"{root.global_scope}_{api_name}".replace("/", "_")
    return call


def build(root, meta_graph: MetaGraph) -> dict:
    """Builds the traced component graph into TF.

    Args:
        root: the root component, already traced into `meta_graph`.
        meta_graph: the result of `trace`.

    Returns:
        root API name -> tf.function with a fixed input signature.
    """
    import tensorflow as tf

    for component in reversed(root.components_recursive()):
        component.ensure_variables()
    functions = {}
    for name, root_api in meta_graph.root_apis.items():
        signature = [root_api.input_spaces[argument].tensor_spec() for argument in root_api.argument_names]
        function = tf.function(_root_function(root, name, root_api.argument_names), input_signature=signature)
        function.get_concrete_function()
        functions[name] = function
    return functions
