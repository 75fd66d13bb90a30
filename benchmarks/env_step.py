"""Median milliseconds of one XflowEnv step: apply + the full observation with all masks.

Usage: python benchmarks/env_step.py [--steps N] [--models resnet50 bert_base] [--cost-model analytic|measured]

Each timed step applies a random valid (xfer, location) and returns the whole
observation (GraphsTuple, xfer_tuples, location masks, xfer mask), as an
agent sees it. Episodes that end are reset outside the timing.
Last line: `env_step_ms resnet50=... bert_base=...` (medians).

With `--cost-model measured` each model gets two environments, one on
analytic costs and one on this machine's measured kernel table (the default
cost cache). An untimed warm-up pass first measures the kernels the table
lacks; then both take the same actions in lockstep, each step timed in
both, so load on the machine slows both alike. (Costs do not change the
masks, so both walk the same graphs.) Last line:
`env_step_ms resnet50=analytic/measured(ratio) ...`, ratio = measured / analytic.
"""
import argparse
import statistics
import sys
import time

import numpy as np


def time_steps(envs: list, steps: int, seed: int) -> list:
    """Per env, the wall seconds of `steps` random valid steps, all envs taking the same actions in lockstep."""
    from rlgraph_xflow.env.observation import LOCATION_MASKS

    rng = np.random.default_rng(seed)
    observation = [env.reset()[0] for env in envs][0]
    timings = [[] for _ in envs]
    while len(timings[0]) < steps:
        valid = np.argwhere(observation[LOCATION_MASKS])
        xfer, location = valid[rng.integers(len(valid))] if len(valid) else (envs[0].num_xfers, 0)
        ended = []
        for env, timed in zip(envs, timings):
            start = time.perf_counter()
            result = env.step((int(xfer), int(location)))
            timed.append(time.perf_counter() - start)
            ended.append(result[2] or result[3])
        if len(set(ended)) > 1:
            raise RuntimeError(f"the environments diverged at step {len(timings[0])}: ended {ended}")
        observation = envs[0].reset()[0] if ended[0] else envs[0].observe()
        if ended[0]:
            for env in envs[1:]:
                env.reset()
    return timings


def report(name: str, timings: list) -> float:
    median = statistics.median(timings) * 1e3
    print(f"{name}: median {median:.3f} ms, p90 {np.percentile(timings, 90) * 1e3:.3f} ms over {len(timings)} steps",
          file=sys.stderr)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert_base"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cost-model", choices=["analytic", "measured"], default="analytic",
                        help="measured: time analytic and measured steps in lockstep and print both with their ratio")
    arguments = parser.parse_args()

    from rlgraph_xflow.env.xflow_env import XflowEnv
    from rlgraph_xflow.graphs import substitutions

    rules = substitutions.load_rules()
    results = {}
    for name in arguments.models:
        analytic = XflowEnv(graph=name, rules=rules, max_steps=50)
        if arguments.cost_model == "analytic":
            results[name] = f"{report(name, time_steps([analytic], arguments.steps, arguments.seed)[0]):.3f}"
            continue
        measured = XflowEnv(graph=analytic.initial_graph, rules=rules, max_steps=50, cost_model="measured")
        start = time.perf_counter()
        time_steps([measured], arguments.steps, arguments.seed)  # fills the kernel table and the pricer's cache
        print(f"{name} measured warm-up: {time.perf_counter() - start:.1f} s, "
              f"{measured.measured_cost_model.measured_count} kernels measured in this process", file=sys.stderr)
        analytic_timings, measured_timings = time_steps([analytic, measured], arguments.steps, arguments.seed)
        analytic_ms, measured_ms = report(name, analytic_timings), report(f"{name} measured", measured_timings)
        results[name] = f"{analytic_ms:.3f}/{measured_ms:.3f}({measured_ms / analytic_ms:.2f})"
    print("env_step_ms " + " ".join(f"{name}={value}" for name, value in results.items()))


if __name__ == "__main__":
    main()
