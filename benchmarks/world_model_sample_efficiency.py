"""Real-environment steps the world-model agent needs to match PPO's final cost, as a fraction of PPO's.

Usage: python benchmarks/world_model_sample_efficiency.py --out DIR [--graph-config bert]
           [--ppo-steps 20000] [--fractions 0.05 0.1 0.25 0.5 1.0] [--seed 0] [key=value ...]

Runs configs/ppo_<graph>.yaml with training.total_env_steps = PPO_STEPS, then
configs/world_model_<graph>.yaml with total_env_steps = fraction x PPO_STEPS
for each fraction in increasing order, stopping at the first whose greedy
policy's graph (evaluated in the real environment) costs no more than PPO's
greedy policy's. Policies are compared, not the runs' exported graphs (a run
exports the cheaper of its greedy policy's graph and the best graph its real
episodes met, which for the world model are random-agent rollouts); both
are printed. Extra key=value overrides apply to every run (e.g. a shorter
env.max_steps). Each run is a normal run directory under DIR. The goal is a
fraction <= 0.25.
Last line: `ppo_policy_ms=... world_model_policy_ms=[...] fraction_needed=... (goal <= 0.25)`,
fraction_needed is "not reached" when no tried budget matched PPO.
"""
import argparse
import json
import os
import sys


def _policy_and_exported_costs(config: str, overrides: list, steps: int, out: str) -> tuple:
    from rlgraph_xflow.runs.run_command import main as run_main

    status = run_main([config, *overrides, f"training.total_env_steps={steps}", "--out", out])
    if status != 0:
        raise SystemExit(f"{config} with {steps} steps failed (exit status {status}); see {out}")
    with open(os.path.join(out, "result.json")) as stream:
        result = json.load(stream)
    return float(result["greedy_policy_cost_ms"]), float(result["final_cost_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--out", required=True)
    parser.add_argument("--graph-config", default="bert", help="the <graph> of configs/ppo_<graph>.yaml and world_model_<graph>.yaml")
    parser.add_argument("--ppo-steps", type=int, default=20000)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25, 0.5, 1.0])
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    overrides = [*arguments.overrides, f"seed={arguments.seed}"]
    ppo_cost, ppo_exported = _policy_and_exported_costs(
        os.path.join(root, "configs", f"ppo_{arguments.graph_config}.yaml"), overrides, arguments.ppo_steps,
        os.path.join(arguments.out, "ppo"))
    print(f"PPO with {arguments.ppo_steps} real steps: greedy policy {ppo_cost:.6f} ms (exported {ppo_exported:.6f} ms)",
          file=sys.stderr)
    costs, needed = [], None
    for fraction in sorted(arguments.fractions):
        steps = max(1, int(round(fraction * arguments.ppo_steps)))
        cost, exported = _policy_and_exported_costs(
            os.path.join(root, "configs", f"world_model_{arguments.graph_config}.yaml"), overrides, steps,
            os.path.join(arguments.out, f"world_model-{fraction:g}"))
        costs.append(round(cost, 6))
        print(f"world model with {steps} real steps ({fraction:g} of PPO's {arguments.ppo_steps}): greedy policy {cost:.6f} ms, "
              f"exported {exported:.6f} ms (PPO's policy {ppo_cost:.6f} ms)", file=sys.stderr)
        if cost <= ppo_cost:
            needed = fraction
            break
    print(f"ppo_policy_ms={ppo_cost:.6f} world_model_policy_ms={costs} "
          f"fraction_needed={needed if needed is not None else 'not reached'} (goal <= 0.25)")


if __name__ == "__main__":
    main()
