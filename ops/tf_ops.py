"""The TF custom ops over the engine, loaded from the library the install built.

Functions in this file:
  load_library: loads `_xflow_tf_ops` (built from ops/tf/*.cc) once.
  xflow_cost: the analytic cost model as a TF op on serialized graphs; works
    eagerly and inside tf.function.

The kernels are thin: they deserialize engine graphs (XflowGraph.to_bytes())
and call the same C++ code as the pybind11 module.
"""
from __future__ import annotations

import glob
import os

from rlgraph_xflow.ops import RULES_DIR
from rlgraph_xflow.tf_runtime import load_tensorflow

_LIBRARY = None


def load_library():
    """Loads the custom-op library (once) and returns its op module."""
    global _LIBRARY
    if _LIBRARY is None:
        tf = load_tensorflow()
        candidates = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_xflow_tf_ops*.so")))
        if not candidates:
            raise ImportError(
                "the TF custom-op library _xflow_tf_ops is not built; run `make setup` "
                "(or `pip install --no-build-isolation -e .`) to build it"
            )
        _LIBRARY = tf.load_op_library(candidates[0])
    return _LIBRARY


def xflow_cost(graphs, device: str = "h100"):
    """Prices serialized engine graphs with the analytic cost model.

    Args:
        graphs: a string tensor (any shape) of engine graph bytes.
        device: an analytic device profile ("h100", "v100", "rtx2070", "cpu").

    Returns:
        (runtime_ms, flops, mem_access_bytes, kernel_launches), each shaped
        like `graphs` (float64, float64, float64, int64).
    """
    return tuple(load_library().xflow_cost(graph=graphs, device=device))


def _rules_path(rules) -> str:
    if rules is None:
        return RULES_DIR
    return os.fspath(rules)


def xflow_observe(graph, rules=None, device: str = "h100", max_locations: int = 200) -> dict:
    """The environment's observation of one serialized graph, as TF ops.

    Returns:
        A dict with the GraphsTuple fields (nodes, edges, senders, receivers,
        globals, n_node, n_edge), xfer_tuples, location_masks, xfer_mask, and
        runtime_ms, flops, mem_access_bytes, kernel_launches.
    """
    outputs = load_library().xflow_observe(graph=graph, rules=_rules_path(rules), device=device, max_locations=max_locations)
    names = ("nodes", "edges", "senders", "receivers", "globals", "n_node", "n_edge", "xfer_tuples", "location_masks",
             "xfer_mask", "runtime_ms", "flops", "mem_access_bytes", "kernel_launches")
    return dict(zip(names, outputs))


def xflow_apply(graph, xfer, location, rules=None, device: str = "h100", max_locations: int = 200):
    """Applies (xfer, location) to one serialized graph, as a TF op.

    Returns:
        (new_graph, valid, runtime_ms, flops, mem_access_bytes,
        kernel_launches); an invalid pair returns the input graph and
        valid=False.
    """
    return tuple(load_library().xflow_apply(graph=graph, xfer=xfer, location=location, rules=_rules_path(rules),
                                            device=device, max_locations=max_locations))
