"""Median milliseconds of one XflowEnv step: apply + the full observation with all masks.

Usage: python benchmarks/env_step.py [--steps N] [--models resnet50 bert_base]

Each timed step applies a random valid (xfer, location) and returns the whole
observation (GraphsTuple, xfer_tuples, location masks, xfer mask), as an
agent sees it. Episodes that end are reset outside the timing.
Last line: `env_step_ms resnet50=... bert_base=...` (medians).
"""
import argparse
import statistics
import sys
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert_base"])
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    from rlgraph_xflow.env.observation import LOCATION_MASKS
    from rlgraph_xflow.env.xflow_env import XflowEnv
    from rlgraph_xflow.graphs import substitutions

    rules = substitutions.load_rules()
    rng = np.random.default_rng(arguments.seed)
    medians = {}
    for name in arguments.models:
        env = XflowEnv(graph=name, rules=rules, max_steps=50)
        observation, _ = env.reset()
        timings = []
        while len(timings) < arguments.steps:
            valid = np.argwhere(observation[LOCATION_MASKS])
            xfer, location = valid[rng.integers(len(valid))] if len(valid) else (env.num_xfers, 0)
            start = time.perf_counter()
            observation, _, terminated, truncated, _ = env.step((int(xfer), int(location)))
            timings.append(time.perf_counter() - start)
            if terminated or truncated:
                observation, _ = env.reset()
        medians[name] = statistics.median(timings) * 1e3
        print(f"{name}: median {medians[name]:.3f} ms, p90 {np.percentile(timings, 90) * 1e3:.3f} ms over {len(timings)} steps",
              file=sys.stderr)
    print("env_step_ms " + " ".join(f"{name}={ms:.3f}" for name, ms in medians.items()))


if __name__ == "__main__":
    main()
