"""Median milliseconds to enumerate every location of every xfer in a zoo graph.

Usage: python benchmarks/matcher.py [--repeats N] [--models resnet50 bert_base] [--max-locations L]

Times `RuleLibrary.locations(graph, L)` (all xfers, deduplicated, capped at L)
on the unmodified zoo graph with the packaged rule library, after one
untimed warm-up call. Goal (issue 4): <= 1 ms on resnet50.
Last line: `matcher_ms resnet50=... bert_base=...` (medians).
"""
import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=101)
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert_base"])
    parser.add_argument("--max-locations", type=int, default=200)
    arguments = parser.parse_args()

    from rlgraph_xflow.graphs import load, zoo
    from rlgraph_xflow.graphs.substitutions import load_rules

    library = load_rules()
    medians = {}
    for name in arguments.models:
        graph = load(zoo.build(name))
        found = library.locations(graph.engine, arguments.max_locations)
        timings = []
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            library.locations(graph.engine, arguments.max_locations)
            timings.append((time.perf_counter() - start) * 1e3)
        medians[name] = statistics.median(timings)
        print(f"{name}: {graph.num_ops} ops, {len(library)} xfers, {sum(found.counts)} locations; "
              f"median {medians[name]:.3f} ms (min {min(timings):.3f}, max {max(timings):.3f}) over {arguments.repeats} calls")
    print("matcher_ms " + " ".join(f"{name}={value:.3f}" for name, value in medians.items()))


if __name__ == "__main__":
    main()
