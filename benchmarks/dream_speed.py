"""Dream steps per second at batch 256 against real-environment steps per second.

Usage: python benchmarks/dream_speed.py [--config configs/base/world_model.yaml] [--model resnet50] [--batch 256]
                                        [--steps 200] [--real-steps 400] [--blocks 10] [--block-warmup 10]
                                        [--training-steps 20] [--seed 0]

The world-model agent is built from the config's agent section (the base
config: GN encoder latent 32, LSTM 256 units, 8 Gaussians, tau 1.5) with its
seeded initial weights (speed does not depend on them), and the DreamEnv gets
the settings WorldModelTrainer gives it (the env's max_steps and
invalid_reward, the agent's done_threshold), with --batch rows.

A dream step is one DreamEnv.step of the whole batch: the call the
controller's training makes per step (one MDN-RNN call, the sampled next
latent, rewards, done flags and predicted xfer masks and location counts, the
episode bookkeeping and restarts). A real step is one XflowEnv.step (apply +
the full observation) on the same machine in the same run, with a random
valid action, in episodes of the config's env.max_steps, as the world
model's data collection takes it (resets are not timed; dissertation 4.3.3
compared the two on ResNet-50: 10 ms against 850 ms, 85x). Episodes matter:
on ResNet-50, steps hundreds of substitutions away from the initial graph
were about 12% cheaper than those of 25-step episodes. Both sides draw
their uniformly random valid actions outside the timing, and the two
alternate in --blocks blocks, so a change of machine load during the run
weighs on both. Each block opens with --block-warmup untimed steps on both
sides: after switching between the single-threaded engine and TensorFlow's
threads the CPU takes about 15 steps to return to speed (measured on the
2-core machine: 3.1 ms, then 2.2 ms, ... 1.8 ms per dream step after a 40 ms
pause), a cost of the interleaving that training, which runs each phase
without such switches, does not pay.

The dream observation's location masks ([B, N, L], derived from the counts)
are built only when read, and neither this benchmark nor the training reads
them (the controller takes the counts), so neither pays for them.

On stderr: the dream step split into the world model's call and the
environment's bookkeeping, and, for reference, a whole dream training step
(the controller's act on the dream observation + DreamEnv.step).
Last line: `dream_steps_per_s=... real_steps_per_s=... speedup=...x`.
"""
import argparse
import os
import sys
import time

import numpy as np


def random_valid_actions(rng, observation, num_xfers: int, no_op_probability: float = 0.02) -> np.ndarray:
    """[B, 2]: per row a uniform xfer among those with locations, then a uniform location; NO-OP when none."""
    counts = np.asarray(observation["location_counts"])
    applicable = counts > 0
    # The largest of uniform keys over the applicable xfers is a uniform choice among them.
    xfers = np.where(applicable, rng.random(counts.shape), -1.0).argmax(axis=1)
    rows = np.arange(len(counts))
    locations = (rng.random(len(counts)) * counts[rows, xfers]).astype(np.int64)
    no_op = ~applicable.any(axis=1) | (rng.random(len(counts)) < no_op_probability)
    return np.stack([np.where(no_op, num_xfers, xfers), np.where(no_op, 0, locations)], axis=1).astype(np.int64)


class TimedWorldModel:
    """Forwards dream_step to the agent and adds up the seconds spent in it."""

    def __init__(self, agent):
        self.agent = agent
        self.seconds = 0.0

    def dream_step(self, *arguments):
        started = time.perf_counter()
        outputs = self.agent.dream_step(*arguments)
        self.seconds += time.perf_counter() - started
        return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "..", "configs", "base", "world_model.yaml"))
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200, help="timed dream steps (each of the whole batch)")
    parser.add_argument("--real-steps", type=int, default=400, help="timed real steps")
    parser.add_argument("--blocks", type=int, default=10, help="dream and real steps alternate in this many blocks")
    parser.add_argument("--block-warmup", type=int, default=10, help="untimed steps opening each block, on both sides")
    parser.add_argument("--training-steps", type=int, default=20, help="timed dream training steps (stderr only)")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    from rlgraph_xflow.agents import AGENTS
    from rlgraph_xflow.agents.agent import ObservationSizes
    from rlgraph_xflow.config import load_config
    from rlgraph_xflow.env.dream_env import DreamEnv
    from rlgraph_xflow.env.observation import LOCATION_MASKS, XFER_MASK, batch_observations
    from rlgraph_xflow.env.xflow_env import XflowEnv

    config = load_config(arguments.config)
    env_spec = {key: value for key, value in config.get("env").items() if key in ("reward", "max_locations", "device", "invalid_reward")}
    agent_spec = {key: value for key, value in config.get("agent").items() if key != "type"}
    rng = np.random.default_rng(arguments.seed)
    max_steps = config.get("env.max_steps", 100)
    env = XflowEnv(graph=arguments.model, max_steps=max_steps, time_steps=False, **env_spec)
    agent = AGENTS.from_spec({"type": "world_model", **agent_spec, "seed": arguments.seed}, "agent", sizes=ObservationSizes.of_env(env))
    initial, _ = env.reset()
    z0 = agent.encode(batch_observations([initial])["graph_tuple"])[0]
    world_model = TimedWorldModel(agent)
    dream = DreamEnv(world_model, z0, initial[XFER_MASK], initial[LOCATION_MASKS].sum(-1), num_envs=arguments.batch,
                     max_locations=env.max_locations, lstm_units=agent.lstm_units, max_steps=max_steps,
                     invalid_reward=env.invalid_reward, done_threshold=agent.done_threshold)
    dream_observation, _ = dream.reset()
    for _ in range(5):  # warm-up: the first calls of a tf.function are slower
        dream_observation, *_ = dream.step(random_valid_actions(rng, dream_observation, env.num_xfers))
    real_observation, _ = env.reset()
    # Dream and real steps alternate in blocks, so both see the same machine
    # load over the run (a 2-core machine shared with other work drifts).
    dream_seconds = model_seconds = real_seconds = 0.0
    for block in range(arguments.blocks):
        dream_steps = arguments.steps // arguments.blocks + (block < arguments.steps % arguments.blocks)
        for step in range(arguments.block_warmup + dream_steps):
            actions = random_valid_actions(rng, dream_observation, env.num_xfers)
            world_model.seconds = 0.0
            started = time.perf_counter()
            dream_observation, *_ = dream.step(actions)
            if step >= arguments.block_warmup:
                dream_seconds += time.perf_counter() - started
                model_seconds += world_model.seconds
        real_steps = arguments.real_steps // arguments.blocks + (block < arguments.real_steps % arguments.blocks)
        timed = -arguments.block_warmup
        while timed < real_steps:
            valid = np.argwhere(real_observation[LOCATION_MASKS])
            if len(valid) == 0:
                real_observation, _ = env.reset()
                continue
            xfer, location = valid[rng.integers(len(valid))]
            started = time.perf_counter()
            real_observation, _, terminated, truncated, _ = env.step((int(xfer), int(location)))
            if timed >= 0:
                real_seconds += time.perf_counter() - started
            timed += 1
            if terminated or truncated:
                real_observation, _ = env.reset()
    dream_rate = arguments.batch * arguments.steps / dream_seconds
    real_rate = arguments.real_steps / real_seconds
    step_ms = dream_seconds / arguments.steps * 1e3
    model_ms = model_seconds / arguments.steps * 1e3

    training_seconds = 0.0
    for _ in range(arguments.training_steps):
        started = time.perf_counter()
        acted = agent.act(dream_observation)
        dream_observation, *_ = dream.step(np.stack([acted["xfers"], acted["locations"]], axis=1).astype(np.int64))
        training_seconds += time.perf_counter() - started
    print(f"{arguments.model}: dream batch {arguments.batch}, {arguments.steps} steps; real {arguments.real_steps} steps", file=sys.stderr)
    print(f"dream step {step_ms:.3f} ms: world model call {model_ms:.3f} ms, environment bookkeeping {step_ms - model_ms:.3f} ms; "
          f"real step {1e3 / real_rate:.3f} ms", file=sys.stderr)
    print(f"dream training step (controller act + DreamEnv.step): {training_seconds / arguments.training_steps * 1e3:.3f} ms, "
          f"{arguments.batch * arguments.training_steps / training_seconds:.1f} steps/s", file=sys.stderr)
    print(f"dream_steps_per_s={dream_rate:.1f} real_steps_per_s={real_rate:.1f} speedup={dream_rate / real_rate:.1f}x")


if __name__ == "__main__":
    main()
