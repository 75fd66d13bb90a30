"""Dream steps per second at batch 256 against real-environment steps per second.

Usage: python benchmarks/dream_speed.py [--model resnet50] [--batch 256] [--steps 50] [--real-steps 100]

The world model has the base config's sizes (configs/base/world_model.yaml:
GN encoder latent 32, LSTM 256 units, 8 Gaussians); its weights are the
seeded initial ones (speed does not depend on them). A dream step is one
DreamEnv.step of the whole batch (one MDN-RNN call, the sampled next latent,
rewards, done flags and predicted masks, the episode bookkeeping), with
uniformly random actions among the predicted-valid ones. A real step is one
XflowEnv.step (apply + the full observation) with a random valid action, as
the world model's data collection takes it (dissertation 4.3.3 compared the
two on ResNet-50: 10 ms against 850 ms, 85x).
Last line: `dream_steps_per_s=... real_steps_per_s=... speedup=...x`.
"""
import argparse
import sys
import time

import numpy as np


def random_valid_actions(rng, observation, num_xfers):
    masks = observation["location_masks"]
    counts = observation["location_counts"]
    actions = np.zeros((len(counts), 2), np.int64)
    for row in range(len(counts)):
        valid = np.flatnonzero(counts[row] > 0)
        if len(valid) == 0 or rng.random() < 0.02:
            actions[row] = (num_xfers, 0)
        else:
            xfer = rng.choice(valid)
            actions[row] = (xfer, rng.integers(counts[row, xfer]))
    return actions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--real-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    from rlgraph_xflow.agents.agent import ObservationSizes
    from rlgraph_xflow.agents.world_model import WorldModelAgent
    from rlgraph_xflow.env.dream_env import DreamEnv
    from rlgraph_xflow.env.observation import LOCATION_MASKS, XFER_MASK, batch_observations
    from rlgraph_xflow.env.xflow_env import XflowEnv

    rng = np.random.default_rng(arguments.seed)
    env = XflowEnv(graph=arguments.model, max_steps=10**6, time_steps=False)
    agent = WorldModelAgent(ObservationSizes.of_env(env), encoder={"latent_size": 32, "message_passing_rounds": 5},
                            mdn_rnn={"lstm_units": 256, "num_mixtures": 8}, temperature=1.5, seed=arguments.seed)
    initial, _ = env.reset()
    z0 = agent.encode(batch_observations([initial])["graph_tuple"])[0]
    dream = DreamEnv(agent, z0, initial[XFER_MASK], initial[LOCATION_MASKS].sum(-1), num_envs=arguments.batch,
                     max_locations=env.max_locations, lstm_units=agent.lstm_units, max_steps=25)
    observation, _ = dream.reset()
    for _ in range(3):  # warm-up: the first calls of a tf.function are slower
        observation, *_ = dream.step(random_valid_actions(rng, observation, env.num_xfers))
    elapsed = 0.0
    for _ in range(arguments.steps):
        actions = random_valid_actions(rng, observation, env.num_xfers)
        started = time.perf_counter()
        observation, *_ = dream.step(actions)
        elapsed += time.perf_counter() - started
    dream_rate = arguments.batch * arguments.steps / elapsed

    observation, _ = env.reset()
    elapsed = 0.0
    for _ in range(arguments.real_steps):
        valid = np.argwhere(observation[LOCATION_MASKS])
        if len(valid) == 0:
            observation, _ = env.reset()
            continue
        xfer, location = valid[rng.integers(len(valid))]
        started = time.perf_counter()
        observation, _, terminated, truncated, _ = env.step((int(xfer), int(location)))
        elapsed += time.perf_counter() - started
        if terminated or truncated:
            observation, _ = env.reset()
    real_rate = arguments.real_steps / elapsed
    print(f"{arguments.model}: dream batch {arguments.batch}, {arguments.steps} steps; real {arguments.real_steps} steps", file=sys.stderr)
    print(f"dream_steps_per_s={dream_rate:.1f} real_steps_per_s={real_rate:.1f} speedup={dream_rate / real_rate:.1f}x")


if __name__ == "__main__":
    main()
