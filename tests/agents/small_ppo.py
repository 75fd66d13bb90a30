"""A small PPO agent spec the PPO tests share (fast to build and train on the tiny graphs)."""
from rlgraph_xflow.agents import AGENTS
from rlgraph_xflow.agents.agent import ObservationSizes

SELF_IMITATION = {"type": "self_imitation_loss"}
SMALL_AGENT = {
    "type": "ppo", "num_envs": 2, "rollout_steps": 8, "epochs": 2, "minibatch_size": 8,
    "encoder": {"latent_size": 16, "message_passing_rounds": 2},
    "sampler": {"type": "masked_dual_action_sampler", "location_head": {"type": "location_head", "hidden_layers": [16]}},
    "value_head": {"hidden_layers": [16]},
}


def small_ppo_agent(execution, spec=None):
    """A PPO agent from `spec` (default SMALL_AGENT), sized for the execution's environments."""
    return AGENTS.from_spec(spec or SMALL_AGENT, "agent", sizes=ObservationSizes.of_env(execution.sample_env))
