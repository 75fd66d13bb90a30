"""Greedy and backtracking search on every zoo graph: costs and wall times.

Usage: python benchmarks/search.py [--budget 1000] [--alpha 1.05] [--device h100] [--models ...]

For each graph: the initial analytic runtime (ms, device profile --device),
greedy's final runtime and seconds, and backtracking's (budget --budget)
final runtime and seconds, with the packaged rules; bert_base at its zoo
default (sequence length 64, batch 1). Goal (issue 4): backtracking <= 10 s on resnet50.
Prints a Markdown table, then on the last line:
`search name=initial/greedy_final/greedy_s/backtracking_final/backtracking_s ...`.
"""
import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=1.05)
    parser.add_argument("--device", default="h100")
    parser.add_argument("--models", nargs="+", default=None)
    arguments = parser.parse_args()

    from rlgraph_xflow.graphs import load, zoo
    from rlgraph_xflow.graphs.substitutions import backtracking, greedy, load_rules

    library = load_rules()
    rows = []
    print("| graph | initial (ms) | greedy final (ms) | greedy (s) | backtracking final (ms) | backtracking (s) | explored |")
    print("|---|---|---|---|---|---|---|")
    for name in arguments.models or zoo.names():
        graph = load(zoo.build(name))
        greedy_result = greedy(graph, library, device=arguments.device)
        search_result = backtracking(graph, library, alpha=arguments.alpha, budget=arguments.budget, device=arguments.device)
        rows.append((name, greedy_result.initial_cost, greedy_result.final_cost, greedy_result.seconds,
                     search_result.final_cost, search_result.seconds))
        print(f"| {name} | {greedy_result.initial_cost:.4f} | {greedy_result.final_cost:.4f} | {greedy_result.seconds:.2f} "
              f"| {search_result.final_cost:.4f} | {search_result.seconds:.2f} | {search_result.explored} |", flush=True)
    print("search " + " ".join(f"{row[0]}={row[1]:.4f}/{row[2]:.4f}/{row[3]:.2f}/{row[4]:.4f}/{row[5]:.2f}" for row in rows))


if __name__ == "__main__":
    main()
