"""PPO against greedy and backtracking search on the zoo graphs.

Usage: python benchmarks/agents.py [--graphs squeezenet1_1 resnet18 ...] [--env-steps N] [--budget B] [--set key=value ...]
                                  [--seeds 0 1 2 ...]

For each graph: trains PPO (configs/ppo_<graph>.yaml, with --env-steps as the
budget on the graph itself; a config's pretraining runs as configured
first) and takes the run's exported graph (the cheapest of its greedy
policy's graph, its sampled episodes' best graph and the best graph met
during training, as `run` exports), then runs greedy search and
backtracking on the same graph and cost model (analytic h100). Backtracking
gets PPO's pretraining, training and sampled-evaluation wall-clock as its time limit
(equal wall-clock), capped at --budget popped graphs: every popped
graph stays in memory while candidates derived from it wait in the queue
(about 1 MB a graph on inception_v3; 17 GB after about a minute), so the cap
is what keeps a long search within the machine's memory. Wall seconds are reported for each
(PPO's: pretraining, training and sampled evaluation).
Last line: `agents <graph>=ppo:<ms>/<s>,greedy:<ms>/<s>,backtracking:<ms>/<s> ...`
With --seeds, PPO is trained once per seed (the config's `seed`), each cell
is named `<graph>@seed<N>`, and each graph ends with
`<graph>:median_pct_below_backtracking=<p>` (the median over the seeds of
100 * (backtracking - PPO) / backtracking; negative: above it).
(on stderr also PPO's greedy-policy cost, its sampled episodes' best cost,
its best training graph's cost and the graphs backtracking explored).
"""
import argparse
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_NAMES = {"resnet18": "ppo_resnet18", "resnet50": "ppo_resnet50", "inception_v3": "ppo_inception",
                "squeezenet1_1": "ppo_squeezenet", "bert_base": "ppo_bert"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", nargs="+", default=list(CONFIG_NAMES))
    parser.add_argument("--env-steps", type=int, default=4096)
    parser.add_argument("--budget", type=int, default=8000, help="backtracking: most graphs popped (memory bound)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every PPO run (e.g. env.novelty_bonus=0.0005)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="train PPO once per seed and report the median against backtracking")
    arguments = parser.parse_args()
    if arguments.seeds is not None and any(item.split("=", 1)[0].strip() == "seed" for item in arguments.set):
        parser.error("--seeds and --set seed=... both choose the seed; give one of them")

    from rlgraph_xflow.config import load_config
    from rlgraph_xflow.graphs import substitutions

    rules = substitutions.load_rules()
    cells = []
    for graph in arguments.graphs:
        below_backtracking = []
        for seed in arguments.seeds or [None]:
            seed_override = [] if seed is None else [f"seed={seed}"]
            config = load_config(os.path.join(ROOT, "configs", f"{CONFIG_NAMES[graph]}.yaml"),
                                 [f"training.total_env_steps={arguments.env_steps}", "training.random_baseline_episodes=0",
                                  *arguments.set, *seed_override])
            cell, ppo_ms, backtracking_ms = run_graph(graph, config, rules, arguments.budget)
            cells.append(cell if seed is None else cell.replace(f"{graph}=", f"{graph}@seed{seed}=", 1))
            below_backtracking.append(100.0 * (backtracking_ms - ppo_ms) / backtracking_ms)
        if arguments.seeds is not None:
            cells.append(f"{graph}:median_pct_below_backtracking={statistics.median(below_backtracking):.2f}")
    print("agents " + " ".join(cells))


def run_graph(graph: str, config, rules, budget: int) -> tuple[str, float, float]:
    """Trains PPO on `graph` and runs both searches; returns the cell, PPO's and backtracking's costs (ms)."""
    from rlgraph_xflow.runs.agent_run import run_agent
    from rlgraph_xflow.graphs import substitutions
    from rlgraph_xflow.optimize.pipeline import load_model

    with tempfile.TemporaryDirectory() as run_dir:
        ppo = run_agent(config, run_dir)
    loaded = load_model(graph, sequence_length=config.get("env.sequence_length"))
    greedy = substitutions.greedy(loaded.graph, rules, device="h100")
    ppo_seconds = ppo["pretraining_seconds"] + ppo["train_seconds"] + ppo["sampled_evaluation_seconds"]
    backtracking = substitutions.backtracking(loaded.graph, rules, budget=budget, device="h100",
                                              time_limit_seconds=ppo_seconds)
    print(f"{graph} (seed {config.get('seed', 0)}): initial {ppo['initial_cost_ms']:.4f} ms; PPO {ppo['final_cost_ms']:.4f} ms "
          f"in {ppo_seconds:.1f} s ({ppo['env_steps']} env steps; greedy policy {ppo['greedy_policy_cost_ms']:.4f} ms, "
          f"sampled policy {ppo['sampled_policy_cost_ms']} ms (best of {ppo['sampled_evaluation_episodes']} episodes, "
          f"{ppo['sampled_evaluation_seconds']:.1f} s), "
          f"best training graph {ppo['best_training_cost_ms']} ms, exported: {ppo['result_source']}); "
          f"greedy {greedy.final_cost:.4f} ms in {greedy.seconds:.1f} s; "
          f"backtracking {backtracking.final_cost:.4f} ms in {backtracking.seconds:.1f} s ({backtracking.explored} graphs)",
          file=sys.stderr)
    cell = (f"{graph}=ppo:{ppo['final_cost_ms']:.4f}/{ppo_seconds:.1f},"
            f"greedy:{greedy.final_cost:.4f}/{greedy.seconds:.1f},"
            f"backtracking:{backtracking.final_cost:.4f}/{backtracking.seconds:.1f}")
    return cell, ppo["final_cost_ms"], backtracking.final_cost


if __name__ == "__main__":
    main()
