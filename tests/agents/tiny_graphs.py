"""A tiny CNN whose best reachable cost is found by exhaustive search."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_bn_relu_chain(blocks: int = 2, channels: int = 4, size: int = 8, seed: int = 0) -> onnx.ModelProto:
    """x -> [Conv(bias) -> BatchNormalization -> Relu] * blocks -> GlobalAveragePool."""
    rng = np.random.default_rng(seed)
    nodes, initializers = [], []
    current = "x"
    for block in range(blocks):
        def weight(name, array):
            initializers.append(numpy_helper.from_array(array.astype(np.float32), f"{name}{block}"))
            return f"{name}{block}"

        conv = f"conv{block}"
        nodes.append(helper.make_node("Conv", [current, weight("w", rng.standard_normal((channels, channels, 3, 3)) * 0.3),
                                               weight("b", rng.standard_normal(channels) * 0.1)], [conv], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("BatchNormalization", [conv, weight("gamma", rng.uniform(0.5, 1.5, channels)),
                                                             weight("beta", rng.standard_normal(channels) * 0.1),
                                                             weight("mean", rng.standard_normal(channels) * 0.1),
                                                             weight("var", rng.uniform(0.5, 1.5, channels))], [f"bn{block}"]))
        nodes.append(helper.make_node("Relu", [f"bn{block}"], [f"relu{block}"]))
        current = f"relu{block}"
    nodes.append(helper.make_node("GlobalAveragePool", [current], ["y"]))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, 1, 1])], initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def best_reachable_cost(graph, library, depth: int, device: str = "h100") -> float:
    """The lowest runtime over every graph reachable in <= depth applications (breadth first, deduplicated by hash)."""
    from rlgraph_xflow.graphs import substitutions

    best = graph.cost(device=device).runtime_ms
    frontier, seen = [graph], {graph.hash()}
    for _ in range(depth):
        next_frontier = []
        for current in frontier:
            for xfer, count in enumerate(substitutions.locations(current, library).counts):
                for location in range(count):
                    candidate = substitutions.apply(current, library, xfer, location)
                    if candidate.hash() in seen:
                        continue
                    seen.add(candidate.hash())
                    best = min(best, candidate.cost(device=device).runtime_ms)
                    next_frontier.append(candidate)
        frontier = next_frontier
    return best
