"""WorldModelTrainer: rounds, training on every real episode so far, the controller's real episodes, exact resume, bad input."""
import json
import math
import os

import numpy as np
import pytest

from rlgraph_xflow.agents.agent import ObservationSizes
from rlgraph_xflow.agents.world_model import WorldModelAgent
from rlgraph_xflow.core.metrics_log import read_metrics_csv
from rlgraph_xflow.env.observation import GRAPH_TUPLE
from rlgraph_xflow.execution import training
from rlgraph_xflow.execution.local import LocalExecution
from rlgraph_xflow.execution.training import keep_best_prefix

ENV_SPEC = {"graph": "squeezenet1_1", "max_steps": 3, "max_locations": 8, "reward": {"type": "incremental", "normalize": True}}
# 2 rounds over 18 real steps: 3 iterations of 2 envs x 3 steps, split [2, 1];
# dream updates of 4 x 3 steps: ceil(2 x 12 / 12) = 2, then ceil(2 x 6 / 12) = 1.
TINY = {"encoder": {"latent_size": 8, "message_passing_rounds": 2}, "mdn_rnn": {"lstm_units": 16, "num_mixtures": 2},
        "sampler": {"type": "latent_dual_action_sampler", "location_head": {"type": "latent_location_head", "hidden_layers": [8]}},
        "value_head": {"hidden_layers": [8]}, "num_envs": 2, "rollout_steps": 3, "dream_envs": 4, "dream_rollout_steps": 3,
        "dream_steps_per_env_step": 2, "epochs": 1, "minibatch_size": 6, "world_model_minibatch_size": 2,
        "world_model_epochs": 2, "world_model_dataset_episodes": 5, "rounds": 2, "real_exploration": 0.5}
TRAINING = {"total_env_steps": 18, "checkpoint_every": 1}


def _trainer(agent, execution, run_dir, training=TRAINING):
    return agent.make_trainer(execution, str(run_dir), training, seed=3)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One uninterrupted run, with the agent's world-model calls, real-env acts and best-prefix updates recorded in order."""
    execution = LocalExecution(dict(ENV_SPEC), num_envs=2)
    agent = WorldModelAgent(ObservationSizes.of_env(execution.sample_env), seed=1, **TINY)
    run_dir = tmp_path_factory.mktemp("run")
    events, offered = [], []
    evaluate, update, act = agent.evaluate_world_model, agent.update_world_model, agent.act

    def recording_evaluate(batch):
        events.append(("evaluate", len(batch["lengths"]), int(batch["lengths"].sum())))
        return evaluate(batch)

    def recording_update(batch):
        events.append(("update", len(batch["lengths"])))
        return update(batch)

    def recording_act(observations, greedy=False):
        if GRAPH_TUPLE in observations:
            events.append(("real_act",))
        return act(observations, greedy)

    def recording_keep_best_prefix(best, episodes):
        offered.extend(episodes)
        return keep_best_prefix(best, episodes)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(agent, "evaluate_world_model", recording_evaluate)
        patch.setattr(agent, "update_world_model", recording_update)
        patch.setattr(agent, "act", recording_act)
        # The best-prefix record every trainer keeps (its base class, execution/training.py).
        patch.setattr(training, "keep_best_prefix", recording_keep_best_prefix)
        trainer = _trainer(agent, execution, run_dir)
        summary = trainer.run()
    return {"agent": agent, "execution": execution, "run_dir": run_dir, "trainer": trainer, "summary": summary,
            "events": events, "offered": offered, "variables": agent.executor.variable_values(),
            "rows": read_metrics_csv(run_dir / "metrics.csv")[1]}


def test_rounds_split_the_budgets_and_log_their_round(finished_run):
    trainer, summary, rows = finished_run["trainer"], finished_run["summary"], finished_run["rows"]
    assert trainer.round_iterations == [2, 1] and trainer.round_dream_updates == [2, 1]
    assert summary.env_steps == 18 and summary.extra_result["real_env_steps"] == 18
    assert summary.extra_result["dream_steps"] == 36 and summary.extra_result["rounds"] == 2
    assert [(row["round"], row["phase"]) for row in rows] == [(1, "world_model"), (1, "world_model"), (1, "dream"), (1, "dream"),
                                                                (2, "world_model"), (2, "dream")]
    assert [row["env_steps"] for row in rows] == [6, 12, 12, 12, 18, 18]
    assert [row["dream_steps"] for row in rows] == [0, 0, 12, 24, 24, 36]


def test_each_iteration_scores_its_new_episodes_then_trains_on_the_whole_capped_dataset(finished_run):
    events, agent = finished_run["events"], finished_run["agent"]
    evaluations = [index for index, event in enumerate(events) if event[0] == "evaluate"]
    assert len(evaluations) == 3   # every iteration of this budget finishes episodes
    # Every real step is scored exactly once, before the model trains on it.
    assert sum(events[index][2] for index in evaluations) == 18
    collected = 0
    for position, index in enumerate(evaluations):
        collected += events[index][1]
        dataset = min(collected, agent.world_model_dataset_episodes)
        end = evaluations[position + 1] if position + 1 < len(evaluations) else len(events)
        updates = [event[1] for event in events[index + 1:end] if event[0] == "update"]
        assert len(updates) == agent.world_model_epochs * math.ceil(dataset / agent.world_model_minibatch_size)
        assert sum(updates) == agent.world_model_epochs * dataset
    assert collected > agent.world_model_dataset_episodes   # the cap dropped episodes
    assert len(finished_run["trainer"].dataset) == agent.world_model_dataset_episodes


def test_round_two_collects_with_the_controller_and_its_episodes_count_for_the_best_graph(finished_run):
    events, offered, summary = finished_run["events"], finished_run["offered"], finished_run["summary"]
    evaluations = [index for index, event in enumerate(events) if event[0] == "evaluate"]
    real_acts = [index for index, event in enumerate(events) if event[0] == "real_act"]
    # Round 1 is the random agent's; round 2 (the third iteration) is the controller's, one act per step.
    assert len(real_acts) == TINY["rollout_steps"] and evaluations[1] < min(real_acts) and max(real_acts) < evaluations[2]
    # Every new episode of every round (round 2's included) was offered to the best-graph bookkeeping.
    assert len(offered) == sum(events[index][1] for index in evaluations)
    assert summary.best_training_prefix == keep_best_prefix(None, offered)


def _point_latest_at(run_dir, name: str, update: int) -> None:
    latest = run_dir / "checkpoints" / "latest.json"
    pointer = json.loads(latest.read_text())
    pointer.update(agent=f"{name}.npz", state=f"{name}.json", update=update)
    latest.write_text(json.dumps(pointer))


@pytest.mark.parametrize("checkpoint_name, update", [("dream-000004", 4), ("dream-000005", 5)],
                         ids=["end_of_round_1", "round_2_dream"])
def test_a_run_resumed_in_round_two_ends_as_the_uninterrupted_one(finished_run, checkpoint_name, update):
    agent, execution, run_dir = finished_run["agent"], finished_run["execution"], finished_run["run_dir"]
    assert os.path.isfile(run_dir / "checkpoints" / f"{checkpoint_name}.json")
    _point_latest_at(run_dir, checkpoint_name, update)
    resumed = _trainer(agent, execution, run_dir).run(resume=True)
    summary = finished_run["summary"]
    assert resumed.env_steps == 18 and resumed.extra_result["dream_steps"] == 36
    assert resumed.best_training_prefix == summary.best_training_prefix
    assert resumed.extra_result["world_model_metrics"] == pytest.approx(summary.extra_result["world_model_metrics"], rel=1e-5)
    for name, value in agent.executor.variable_values().items():
        np.testing.assert_allclose(value, finished_run["variables"][name], atol=1e-5, err_msg=name)
    rows = read_metrics_csv(run_dir / "metrics.csv")[1]
    assert len(rows) == len(finished_run["rows"])
    for row, expected in zip(rows, finished_run["rows"]):
        for column, value in expected.items():
            if column != "wall_seconds":
                assert row[column] == (pytest.approx(value, rel=1e-5, nan_ok=True) if isinstance(value, float) else value), column


def test_resume_without_a_checkpoint_is_refused(finished_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _trainer(finished_run["agent"], finished_run["execution"], tmp_path).run(resume=True)


def test_a_budget_of_fewer_iterations_than_rounds_runs_one_round_per_iteration(finished_run, tmp_path, capsys):
    trainer = _trainer(finished_run["agent"], finished_run["execution"], tmp_path, {"total_env_steps": 6, "checkpoint_every": 1})
    assert trainer.round_iterations == [1] and trainer.round_dream_updates == [1]
    assert "1 round(s) instead of agent.rounds = 2" in capsys.readouterr().err


def test_bad_trainer_input_is_refused(finished_run, tmp_path):
    agent, execution = finished_run["agent"], finished_run["execution"]

    class RemoteExecution:
        pass

    with pytest.raises(ValueError, match="execution type 'local'"):
        agent.make_trainer(RemoteExecution(), str(tmp_path), TRAINING, seed=0)
