"""PPOTrainer: an interrupted and resumed run ends like an uninterrupted one; --resume needs a checkpoint."""
import numpy as np
import pytest

from rlgraph_xflow.agents.ppo_trainer import METRIC_FIELDS, PPOTrainer
from rlgraph_xflow.core.metrics_log import MetricsLog
from rlgraph_xflow.execution.local import LocalExecution
from rlgraph_xflow.graphs import load

from tests.agents.small_ppo import SELF_IMITATION, SMALL_AGENT, small_ppo_agent
from tests.agents.tiny_graphs import conv_bn_relu_chain


def _trainer(run_dir, rules, updates, graph, self_imitation=None, reward="incremental"):
    execution = LocalExecution({"graph": graph, "rules": rules, "max_steps": 5, "reward": reward}, num_envs=2)
    agent = small_ppo_agent(execution, dict(SMALL_AGENT, self_imitation=self_imitation))
    imitation_env = execution.make_env() if self_imitation else None
    return PPOTrainer(agent, execution, str(run_dir), total_env_steps=updates * 16, checkpoint_every=2, progress=False,
                      imitation_env=imitation_env)


class _Interrupted(Exception):
    pass


# best_so_far: the episodes in progress carry their reward's record through the checkpoint.
# Plain PPO resumes in `make test`; the two variants (30-45 s each) in `make test-long`.
@pytest.mark.parametrize("self_imitation, reward", [(None, "incremental"),
                                                    pytest.param(SELF_IMITATION, "incremental", marks=pytest.mark.long),
                                                    pytest.param(None, {"type": "best_so_far"}, marks=pytest.mark.long)],
                         ids=["ppo", "self_imitating", "best_so_far_reward"])
def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(rules, tmp_path, self_imitation, reward):
    graph = load(conv_bn_relu_chain(blocks=3))
    straight = _trainer(tmp_path / "straight", rules, 5, graph, self_imitation, reward)
    straight_summary = straight.run()

    interrupted = _trainer(tmp_path / "resumed", rules, 5, graph, self_imitation, reward)
    original_update, calls = interrupted.agent.update, []

    def update_then_crash(*arguments, **keywords):
        calls.append(1)
        if len(calls) == 4:  # during update 4: the last checkpoint is at update 2
            raise _Interrupted()
        return original_update(*arguments, **keywords)

    interrupted.agent.update = update_then_crash
    with pytest.raises(_Interrupted):
        interrupted.run()
    assert len(MetricsLog(tmp_path / "resumed" / "metrics.csv", METRIC_FIELDS).rows()) == 3

    resumed = _trainer(tmp_path / "resumed", rules, 5, graph, self_imitation, reward)
    summary = resumed.run(resume=True)
    assert summary.updates == 5 and summary.env_steps == 80
    # The best graph training reached is part of the checkpoint: the resumed run ends with exactly the same one.
    assert straight_summary.best_training_prefix is not None and straight_summary.best_training_prefix.steps
    assert summary.best_training_prefix == straight_summary.best_training_prefix
    expected, actual = straight.agent.executor.variable_values(), resumed.agent.executor.variable_values()
    assert expected.keys() == actual.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    rows = [MetricsLog(tmp_path / run / "metrics.csv", METRIC_FIELDS).rows() for run in ("straight", "resumed")]
    assert [r["update"] for r in rows[1]] == [1, 2, 3, 4, 5]
    for left, right in zip(*rows):
        for field in ("env_steps", "episodes", "episode_reward", "total_loss"):
            assert left[field] == pytest.approx(right[field], rel=1e-4, abs=1e-6), field
    # A self-imitating run imitated (a best prefix existed by the last update); a plain one logs nothing there.
    for run_rows in rows:
        if self_imitation:
            assert run_rows[-1]["imitation_loss"] > 0 and 0 < run_rows[-1]["imitated_fraction"] <= 1
            assert left["imitation_loss"] == pytest.approx(right["imitation_loss"], rel=1e-4, abs=1e-6)
        else:
            assert all(row["imitation_loss"] == "" for row in run_rows)


def test_resume_without_a_checkpoint_is_an_error(rules, tmp_path, tiny_graph):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _trainer(tmp_path, rules, 1, tiny_graph).run(resume=True)
