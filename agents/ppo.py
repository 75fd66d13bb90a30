"""PPO: the model-free agent (dissertation section 3.3, Algorithm 3).

Classes in this file:
  PPOModel: the root component, composed purely from specs: a graph-network
    encoder, the masked two-stage (xfer, then location) action sampler, a
    value head, GAE, the clipped PPO loss and Adam. Its APIs are what the
    agent calls: act, greedy_act, value, estimate_advantages, update.
  SelfImitatingPPOModel: PPOModel plus a self-imitation loss and its API,
    imitate (built when the config has `agent.self_imitation`).
  discounted_returns: the discounted reward-to-go of one episode.
  PPOAgent: builds the model for an environment's observation sizes and runs
    PPO's update: GAE over a rollout, then `epochs` passes of shuffled
    minibatches; with self-imitation, also imitate(episode), one in-order
    pass over the best training episode. Registered as agent type "ppo".

Defaults follow the dissertation's code where it gives them: 5 message-
passing rounds, learning rate 2.5e-3, clip 0.3, gamma 0.99, lambda 0.97.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

import rlgraph_xflow.components  # noqa: F401  (registers the component types)
from rlgraph_xflow.agents.agent import Agent, ObservationSizes, merged_spec
from rlgraph_xflow.agents.ppo_trainer import PPOTrainer
from rlgraph_xflow.agents.registry import AGENTS
from rlgraph_xflow.components.losses import SelfImitationLoss
from rlgraph_xflow.core import BoolBox, Component, Executor, FloatBox, IntBox, SpecError, api, from_spec
from rlgraph_xflow.core.validation import check_int_at_least
from rlgraph_xflow.env import observation as fields
from rlgraph_xflow.env.observation import batch_observations

DEFAULT_SPECS = {
    "encoder": {"type": "gn_encoder", "latent_size": 64, "message_passing_rounds": 5},
    "sampler": {"type": "masked_dual_action_sampler"},
    "value_head": {"type": "value_head", "hidden_layers": [64]},
    "gae": {"type": "gae", "gamma": 0.99, "gae_lambda": 0.97},
    "loss": {"type": "ppo_loss", "clip_ratio": 0.3},
    "optimizer": {"type": "adam", "learning_rate": 2.5e-3},
}


class PPOModel(Component):
    """Encoder, sampler and value head, plus GAE, loss and optimizer.

    Args:
        num_xfers: N, filled into the sampler spec.
        encoder, sampler, value_head, gae, loss, optimizer: component specs.
    """

    def __init__(self, num_xfers: int, encoder: Any, sampler: Any, value_head: Any, gae: Any, loss: Any, optimizer: Any,
                 seed: int = 0, key_path: str = "agent"):
        super().__init__(scope="ppo")
        sampler = dict(sampler, num_xfers=num_xfers)
        for spec in (encoder, sampler, value_head):
            spec.setdefault("seed", seed)
        self.encoder = from_spec(encoder, f"{key_path}.encoder", scope="encoder")
        self.sampler = from_spec(sampler, f"{key_path}.sampler", scope="sampler")
        self.value_head = from_spec(value_head, f"{key_path}.value_head", scope="value_head")
        self.gae = from_spec(gae, f"{key_path}.gae", scope="gae")
        self.loss = from_spec(loss, f"{key_path}.loss", scope="loss")
        optimizer = dict(optimizer)
        if "targets" in optimizer:
            raise SpecError(f"{key_path}.optimizer.targets", "the PPO agent sets the optimizer's targets itself")
        optimizer["targets"] = [self.encoder, self.sampler, self.value_head]
        self.optimizer = from_spec(optimizer, f"{key_path}.optimizer", scope="optimizer")
        self.add_components(self.encoder, self.sampler, self.value_head, self.gae, self.loss, self.optimizer)

    def _policy_inputs(self, observations):
        graphs = observations[fields.GRAPH_TUPLE]
        node_embeddings, z = self.encoder.encode(graphs)
        return z, (z, node_embeddings, graphs, observations[fields.XFER_TUPLES], observations[fields.LOCATION_MASKS],
                   observations[fields.XFER_MASK])

    @api
    def act(self, observations):
        """Sampled actions with their log-probabilities, and state values."""
        z, inputs = self._policy_inputs(observations)
        return self.sampler.sample_actions(*inputs), self.value_head.value(z)

    @api
    def greedy_act(self, observations):
        """The most likely actions (evaluation)."""
        _, inputs = self._policy_inputs(observations)
        return self.sampler.greedy_actions(*inputs)

    @api
    def value(self, observations):
        """V(s) of each graph."""
        z = self.encoder.global_latent(observations[fields.GRAPH_TUPLE])
        return self.value_head.value(z)

    @api
    def estimate_advantages(self, rewards, values, dones, bootstrap_values):
        """GAE advantages and returns over [B, T] rollouts."""
        return self.gae.advantages_and_returns(rewards, values, dones, bootstrap_values)

    @api
    def update(self, observations, xfers, locations, old_log_probs, advantages, returns, old_values):
        """One clipped-PPO gradient step on a minibatch; returns the loss parts and the gradient norm."""
        z, inputs = self._policy_inputs(observations)
        evaluated = self.sampler.evaluate_actions(*inputs, xfers, locations)
        parts = self.loss.loss(evaluated["log_probs"], old_log_probs, advantages, self.value_head.value(z), old_values,
                               returns, evaluated["xfer_entropy"], evaluated["location_entropy"])
        return parts, self.optimizer.step(parts["total_loss"])


class SelfImitatingPPOModel(PPOModel):
    """PPOModel that also imitates its best episode (components/losses/self_imitation_loss.py).

    Args:
        self_imitation: the self-imitation loss spec; other arguments as PPOModel.
    """

    def __init__(self, num_xfers: int, self_imitation: Any, seed: int = 0, key_path: str = "agent", **specs):
        super().__init__(num_xfers, seed=seed, key_path=key_path, **specs)
        self.self_imitation = from_spec(self_imitation, f"{key_path}.self_imitation", scope="self_imitation")
        if not isinstance(self.self_imitation, SelfImitationLoss):
            raise SpecError(f"{key_path}.self_imitation.type",
                            f"expected self_imitation_loss (or a subclass), got {type(self.self_imitation).__name__}")
        self.add_components(self.self_imitation)

    @api
    def imitate(self, observations, xfers, locations, returns):
        """One self-imitation gradient step on steps of the imitated episode."""
        z, inputs = self._policy_inputs(observations)
        evaluated = self.sampler.evaluate_actions(*inputs, xfers, locations)
        parts = self.self_imitation.loss(evaluated["log_probs"], self.value_head.value(z), returns)
        return parts, self.optimizer.step(parts["total_loss"])


def discounted_returns(rewards, gamma: float) -> np.ndarray:
    """R_t = sum_k gamma^k r_(t+k) over the rest of the episode (nothing after its last reward)."""
    returns = np.zeros(len(rewards), np.float32)
    following = 0.0
    for index in range(len(rewards) - 1, -1, -1):
        following = float(rewards[index]) + gamma * following
        returns[index] = following
    return returns


@AGENTS.register("ppo")
class PPOAgent(Agent):
    """Proximal policy optimisation with the masked dual action.

    Args:
        sizes: the environment's observation sizes (set by the runner).
        encoder, sampler, value_head, gae, loss, optimizer: component specs,
            merged over DEFAULT_SPECS.
        num_envs: environments stepped together.
        rollout_steps: steps per environment between updates.
        epochs: passes over a rollout per update.
        minibatch_size: steps per gradient step.
        seed: seeds every component and the minibatch shuffling.
        self_imitation: a self-imitation loss spec (e.g. {type:
            self_imitation_loss}), or None for plain PPO. With it, the
            trainer replays the cheapest graph's episode met so far after
            every update and the agent imitates it (imitate).
    """

    pretrainable = True

    def __init__(self, sizes: ObservationSizes, encoder: Any = None, sampler: Any = None, value_head: Any = None,
                 gae: Any = None, loss: Any = None, optimizer: Any = None, num_envs: int = 4, rollout_steps: int = 16,
                 epochs: int = 4, minibatch_size: int = 32, seed: int = 0, self_imitation: Any = None,
                 key_path: str = "agent"):
        self.sizes = sizes
        self.num_envs = check_int_at_least(num_envs, f"{key_path}.num_envs", 1)
        self.rollout_steps = check_int_at_least(rollout_steps, f"{key_path}.rollout_steps", 1)
        self.epochs = check_int_at_least(epochs, f"{key_path}.epochs", 1)
        self.minibatch_size = check_int_at_least(minibatch_size, f"{key_path}.minibatch_size", 1)
        self.seed = seed
        specs = {name: merged_spec(DEFAULT_SPECS[name], given, f"{key_path}.{name}") for name, given in (
            ("encoder", encoder), ("sampler", sampler), ("value_head", value_head), ("gae", gae), ("loss", loss),
            ("optimizer", optimizer))}
        if self_imitation is None:
            self.model = PPOModel(sizes.num_xfers, seed=seed, key_path=key_path, **specs)
        else:
            imitation_spec = merged_spec({"type": "self_imitation_loss"}, self_imitation, f"{key_path}.self_imitation")
            self.model = SelfImitatingPPOModel(sizes.num_xfers, imitation_spec, seed=seed, key_path=key_path, **specs)
        self.executor = Executor(self.model, self.input_spaces(sizes))

    @property
    def imitates(self) -> bool:
        """Whether this agent learns from its best episode too (agent.self_imitation)."""
        return isinstance(self.model, SelfImitatingPPOModel)

    @staticmethod
    def input_spaces(sizes: ObservationSizes) -> dict:
        scalar = FloatBox((), batch_rank=True)
        series = FloatBox((), batch_rank=True, time_rank=True)
        return {
            "observations": fields.observation_space(sizes.num_xfers, sizes.max_locations, sizes.max_pattern_ops,
                                                     sizes.node_feature_size - 1),
            "xfers": IntBox(sizes.num_xfers + 1, batch_rank=True),
            "locations": IntBox(sizes.max_locations, batch_rank=True),
            "old_log_probs": scalar, "advantages": scalar, "returns": scalar, "old_values": scalar,
            "rewards": series, "values": series, "dones": BoolBox((), batch_rank=True, time_rank=True),
            "bootstrap_values": scalar,
        }

    @property
    def build_stats(self):
        return self.executor.stats

    def act(self, observations: dict, greedy: bool = False) -> dict:
        if greedy:
            return dict(self.executor.execute("greedy_act", observations))
        actions, values = self.executor.execute("act", observations)
        return dict(actions, values=values)

    def bootstrap_values(self, observations: dict) -> np.ndarray:
        return self.executor.execute("value", observations)

    def update(self, buffer, bootstrap_values: Optional[np.ndarray] = None) -> dict:
        """GAE over the buffer, then `epochs` passes of minibatch PPO steps.

        Returns:
            Mean loss parts over the minibatches, and the gradient norm.
        """
        series = buffer.time_series()
        if bootstrap_values is None:
            bootstrap_values = np.zeros(buffer.num_envs, np.float32)
        advantages, returns = self.executor.execute(
            "estimate_advantages", series["rewards"], series["values"], series["dones"],
            np.asarray(bootstrap_values, np.float32))
        buffer.set_advantages(advantages, returns)
        totals: dict = {}
        count = 0
        for _ in range(self.epochs):
            for batch in buffer.minibatches(self.minibatch_size):
                parts, gradient_norm = self.executor.execute(
                    "update", batch["observations"], batch["xfers"], batch["locations"], batch["log_probs"],
                    batch["advantages"], batch["returns"], batch["values"])
                for key, value in dict(parts, gradient_norm=gradient_norm).items():
                    totals[key] = totals.get(key, 0.0) + float(value)
                count += 1
        return {key: value / count for key, value in totals.items()}

    def imitate(self, observations: list, xfers, locations, rewards) -> dict:
        """One in-order pass of self-imitation over an episode, in minibatches.

        Args:
            observations: the episode's single (unbatched) observations, one
                before each step.
            xfers, locations: the actions taken there.
            rewards: the rewards they got (returns are discounted with GAE's gamma).

        Returns:
            {"imitation_loss", "imitated_fraction"}: means over the minibatches.
        """
        if not self.imitates:
            raise RuntimeError("imitate: this PPO agent has no agent.self_imitation spec")
        if not (len(observations) == len(xfers) == len(locations) == len(rewards)) or not observations:
            raise ValueError(f"imitate: expected as many observations, xfers, locations and rewards (at least one), got "
                             f"{len(observations)}, {len(xfers)}, {len(locations)} and {len(rewards)}")
        returns = discounted_returns(rewards, self.model.gae.gamma)
        totals, count = {"imitation_loss": 0.0, "imitated_fraction": 0.0}, 0
        for start in range(0, len(observations), self.minibatch_size):
            rows = slice(start, start + self.minibatch_size)
            parts, _ = self.executor.execute(
                "imitate", batch_observations(observations[rows]), np.asarray(xfers[rows], np.int32),
                np.asarray(locations[rows], np.int32), returns[rows])
            for key in totals:
                totals[key] += float(parts[key])
            count += 1
        return {key: value / count for key, value in totals.items()}

    def make_trainer(self, execution, run_dir: str, training: dict, seed: int):
        imitation_env = execution.make_env(novelty_bonus=0.0) if self.imitates else None
        return PPOTrainer(self, execution, run_dir, total_env_steps=training["total_env_steps"],
                          checkpoint_every=training["checkpoint_every"], seed=seed, imitation_env=imitation_env)

    def save(self, path: str) -> str:
        return self.executor.save(path)

    def restore(self, path: str) -> None:
        self.executor.restore(path)
