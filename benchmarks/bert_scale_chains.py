"""bert_base's scale chains: the graph they reach, and how often random walks complete them.

Usage: python benchmarks/bert_scale_chains.py [--sequence-length 64] [--walks 30] [--walk-steps 160] [--seed 0]

In every layer, applies attention's 1/sqrt(d) chain into the key weights
(five steps, before greedy merges Q/K/V) and GELU's 1/sqrt(2) chain into the
dense weights (four steps, the first adding a launch), then runs greedy, and
checks the result's outputs against the original in onnxruntime. Then the
other order: greedy first (Q/K/V merged), the attention chain into the
merged key columns (four steps, the last by
fold_scalar_div_into_three_way_merged_dense_part1), the GELU chain, greedy
again; both orders should reach the same cost. Then counts,
over uniform random walks (--walks of --walk-steps steps, sequence length
16), how many of the 24 scale Divs a walk has folded at its end, and the
cheapest graph each walk met. Neither chain is monotone in cost, which is why
greedy and backtracking stop at a dearer graph (docs/RESULTS.md, "PPO against
search").
Last line: `bert_scale_chains chains_then_greedy_ms=<ms> greedy_ms=<ms> gain_pct=<%> verified=<bool>
merge_first_ms=<ms> merge_first_verified=<bool> walk_folded_divs_max=<n> walk_best_ms_median=<ms> walk_greedy_ms=<ms>`.
"""
import argparse
import statistics

ATTENTION_CHAIN = (
    ("fold_scalar_div_into_matmul", "attention.self.scores.Div"),
    ("move_scalar_div_before_transpose", "attention.self.key_heads.Transpose"),
    ("move_scalar_div_before_reshape", "attention.self.key_heads.Reshape"),
    ("distribute_scalar_div_over_add", "attention.self.key.Add"),
    ("fold_scalar_div_into_matmul", "attention.self.key.MatMul"),
)
# After greedy's merge the key is a Split output: its Div folds into the merged
# layer's key columns (the location is the Div the previous step moved).
MERGED_ATTENTION_CHAIN = ATTENTION_CHAIN[:3] + (
    ("fold_scalar_div_into_three_way_merged_dense_part1", "move_scalar_div_before_reshape.moved"),
)
# The second step's location is the Mul the first one created (named after its rule).
GELU_CHAIN = (
    ("rescale_mul_input_by_sibling_div", "intermediate.gelu.Mul"),
    ("move_scalar_mul_after_mul", "rescale_mul_input_by_sibling_div.restored"),
    ("distribute_scalar_div_over_add", "intermediate.dense.Add"),
    ("fold_scalar_div_into_matmul", "intermediate.dense.MatMul"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--walks", type=int, default=30)
    parser.add_argument("--walk-steps", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    import numpy as np

    from rlgraph_xflow.graphs import export, load, zoo
    from rlgraph_xflow.graphs.substitutions import apply, greedy, load_rules, locations
    from rlgraph_xflow.graphs.latency import LatencyProtocol
    from rlgraph_xflow.graphs.verify import verify

    library = load_rules()

    def apply_named(graph, rule, op_name):
        """Applies `rule` where its matched ops include op_name (a zoo op's full name) or, for a name
        without the "encoder." prefix, an op a rewrite created whose name starts with it."""
        index = library.find(rule)
        for location, matched in enumerate(locations(graph, library).descriptors[index]):
            names = [graph.engine.op(op)["name"] for op in matched]
            if not op_name.startswith("encoder."):
                found = any(name.startswith(op_name) for name in names)
            else:
                found = op_name in names
            if found:
                return apply(graph, library, index, location)
        raise SystemExit(f"bert_scale_chains: {rule} has no location at {op_name}")

    def in_layer(op_name, layer):
        """A layer's op of the zoo graph ("attention..." or "intermediate..."); other names are left as they are."""
        if op_name.split(".")[0] in ("attention", "intermediate"):
            return f"encoder.layer.{layer}.{op_name}"
        return op_name

    # Only the outputs are compared here; one timed run of each model is enough.
    untimed = LatencyProtocol(rounds=1, runs_per_round=1, warmup=0)
    original = load(zoo.build("bert_base", sequence_length=arguments.sequence_length))
    graph = original
    for layer in range(12):
        for rule, op_name in ATTENTION_CHAIN + GELU_CHAIN:
            graph = apply_named(graph, rule, in_layer(op_name, layer))
    chains = greedy(graph, library)
    reference = greedy(original, library)
    result = verify(export(original), export(chains.graph), protocol=untimed)
    gain = 100.0 * (1.0 - chains.final_cost / reference.final_cost)
    print(f"chains then greedy: {chains.final_cost:.4f} ms; greedy alone: {reference.final_cost:.4f} ms ({gain:.2f}% lower); "
          f"outputs equal in onnxruntime: {result.equal}", flush=True)

    merge_first = reference.graph
    for chain in (MERGED_ATTENTION_CHAIN, GELU_CHAIN):
        for layer in range(12):
            for rule, op_name in chain:
                merge_first = apply_named(merge_first, rule, in_layer(op_name, layer))
    merge_first_final = greedy(merge_first, library)
    merge_first_check = verify(export(original), export(merge_first_final.graph), protocol=untimed)
    print(f"greedy, then the chains, then greedy: {merge_first_final.final_cost:.4f} ms; outputs equal in onnxruntime: "
          f"{merge_first_check.equal}", flush=True)

    small = load(zoo.build("bert_base", sequence_length=16))
    rng = np.random.default_rng(arguments.seed)
    folded, best_costs = [], []
    for _ in range(arguments.walks):
        walk, best = small, small.cost().runtime_ms
        for _ in range(arguments.walk_steps):
            found = locations(walk, library)
            valid = [xfer for xfer, count in enumerate(found.counts) if count > 0]
            if not valid:
                break
            xfer = valid[int(rng.integers(len(valid)))]
            walk = apply(walk, library, xfer, int(rng.integers(found.counts[xfer])))
            best = min(best, walk.cost().runtime_ms)
        divides = sum(1 for op in walk.cost().ops if op.op_type == "Div" and op.kernel_launches > 0)
        folded.append(24 - divides)
        best_costs.append(best)
    walk_greedy = greedy(small, library).final_cost
    print(f"random walks: folded Divs per walk {folded}; cheapest graph met, median {statistics.median(best_costs):.4f} ms "
          f"(greedy at sequence length 16: {walk_greedy:.4f} ms)", flush=True)
    print(f"bert_scale_chains chains_then_greedy_ms={chains.final_cost:.4f} greedy_ms={reference.final_cost:.4f} "
          f"gain_pct={gain:.2f} verified={result.equal} merge_first_ms={merge_first_final.final_cost:.4f} "
          f"merge_first_verified={merge_first_check.equal} walk_folded_divs_max={max(folded)} "
          f"walk_best_ms_median={statistics.median(best_costs):.4f} walk_greedy_ms={walk_greedy:.4f}")


if __name__ == "__main__":
    main()
