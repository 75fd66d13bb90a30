"""Environment steps per second collected in-process and by 1 and 2 Ray workers.

`python benchmarks/ray_workers.py [--graph squeezenet1_1] [--num-envs 4] [--rollout-steps 16] [--rollouts 3]`

A random valid-action policy acts in the learner (so the figure is the
environments' and the transport's, not a network's); each execution runs
one warm-up rollout, then `--rollouts` timed ones. The last line holds the
figures: `ray_workers_env_steps_per_second local=... workers_1=... workers_2=...`.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from rlgraph_xflow.execution.rollout_buffer import RolloutBuffer
from rlgraph_xflow.env.observation import LOCATION_MASKS, XFER_MASK
from rlgraph_xflow.execution import EXECUTIONS


class RandomValidPolicy:
    """A uniformly random valid (xfer, location) per environment, seeded."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def act(self, observation):
        xfers, locations = [], []
        for xfer_mask, location_masks in zip(observation[XFER_MASK], observation[LOCATION_MASKS]):
            xfer = int(self.rng.choice(np.flatnonzero(xfer_mask)))
            valid = np.flatnonzero(location_masks[xfer]) if xfer < len(location_masks) else np.array([0])
            xfers.append(xfer)
            locations.append(int(self.rng.choice(valid)))
        zeros = np.zeros(len(xfers), np.float32)
        return {"xfers": np.array(xfers), "locations": np.array(locations), "values": zeros, "log_probs": zeros}


def steps_per_second(spec: dict, env_spec: dict, num_envs: int, rollout_steps: int, rollouts: int) -> float:
    execution = EXECUTIONS.from_spec(spec, "execution", env_spec=env_spec, num_envs=num_envs)
    try:
        policy = RandomValidPolicy()
        buffer = RolloutBuffer(num_envs, rollout_steps)
        execution.collect(policy, buffer)
        started = time.perf_counter()
        for _ in range(rollouts):
            buffer.clear()
            execution.collect(policy, buffer)
        return rollouts * rollout_steps * num_envs / (time.perf_counter() - started)
    finally:
        execution.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="squeezenet1_1")
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--rollout-steps", type=int, default=16)
    parser.add_argument("--rollouts", type=int, default=3)
    arguments = parser.parse_args()
    env_spec = {"graph": arguments.graph, "max_steps": 25}
    figures = {}
    for name, spec in (("local", {"type": "local"}), ("workers_1", {"type": "ray", "num_workers": 1}),
                       ("workers_2", {"type": "ray", "num_workers": 2})):
        figures[name] = steps_per_second(spec, env_spec, arguments.num_envs, arguments.rollout_steps, arguments.rollouts)
        print(f"{name}: {figures[name]:.1f} env steps/s", file=sys.stderr, flush=True)
    print("ray_workers_env_steps_per_second " + " ".join(f"{name}={value:.1f}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
