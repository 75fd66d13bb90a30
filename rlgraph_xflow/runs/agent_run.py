"""An agent run from a config: agent + environment + execution -> verified graph + report.

Classes and functions in this file:
  build_agent_run: composes the execution (which builds the environments)
    and the agent from the config, checking every spec with its key path
    (AgentRun).
  pretrain: curriculum pretraining on training.pretraining's environment.
  run_agent: an agent run, as a short sequence of named steps:
    train: pretrains, then trains (or resumes) the agent (Training).
    evaluate (runs/evaluation.py): the greedy policy in the real environment
      (its graph: the cheapest its episodes reached), with
      `training.sampled_evaluation_episodes` K > 0 K episodes of the trained
      policy's sampled actions, and the random agent.
    choose_export (runs/export_choice.py): ranks the candidates by estimated cost.
    verify: verifies the candidates in onnxruntime and exports the cheapest
      one that does not measure slower than the original (else the original
      itself; `export.allow_slower: true` exports the cheapest anyway);
      writes optimized.onnx and result.json.
    report: report.md with its plots.

result.json's final_cost_ms, cost_reduction, applied and steps describe the
exported graph; greedy_policy_cost_ms, sampled_policy_cost_ms (null when K
is 0) and best_training_cost_ms (null when no training episode applied a
rewrite) are the candidates' costs, and result_source ("greedy_policy",
"sampled_policy", "best_training_episode", or "original" when every
candidate measured slower) says which one was exported; the latency_* fields,
rejected_candidates and export_note are write_verified_graph's
(rlgraph_xflow.optimize.pipeline). beats_random_agent compares the greedy
policy (what the agent learned) with the random agent, as before.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from rlgraph_xflow.agents import AGENTS
from rlgraph_xflow.agents.agent import ObservationSizes
from rlgraph_xflow.core.checkpoint import read_latest_pointer
from rlgraph_xflow.core.registry import SpecError, did_you_mean
from rlgraph_xflow.core.validation import check_bool, check_int_at_least, is_int
from rlgraph_xflow.env import ENVIRONMENTS
from rlgraph_xflow.execution import EXECUTIONS
from rlgraph_xflow.execution.training import TrainingSummary
from rlgraph_xflow.graphs.latency import LatencyProtocol
from rlgraph_xflow.optimize.pipeline import ORIGINAL_MODEL_KEY, load_model, original_model_fields, write_verified_graph
from rlgraph_xflow.reporting import write_report
from rlgraph_xflow.runs.evaluation import Evaluation, evaluate
from rlgraph_xflow.runs.export_choice import (BEST_TRAINING_EPISODE, ORIGINAL, SAMPLED_POLICY, ExportChoice, export_candidates,
                                              select_exported_graph)

EXPORT_DEFAULTS = {"allow_slower": False, "latency_rounds": 7, "latency_runs_per_round": 10}
# The fewest alternating rounds a latency comparison may use (as the optimize CLI).
_MIN_LATENCY_ROUNDS = 3
TRAINING_DEFAULTS = {"total_env_steps": 20000, "checkpoint_every": 5, "evaluation_episodes": 1,
                     "sampled_evaluation_episodes": 0, "random_baseline_episodes": 8}
# Settings that may be 0 (the others must be >= 1).
_MAY_BE_ZERO = ("sampled_evaluation_episodes", "random_baseline_episodes")


@dataclasses.dataclass
class AgentRun:
    agent: Any
    execution: Any
    env_spec: dict
    training: dict
    export: dict
    seed: int
    execution_spec: dict
    sizes: Any  # ObservationSizes


def _pretraining_settings(given) -> Optional[dict]:
    """training.pretraining, checked: None, or {env: env overrides, total_env_steps: int >= 1}."""
    if given is None:
        return None
    if not isinstance(given, dict) or set(given) != {"env", "total_env_steps"}:
        raise SpecError("training.pretraining", "expected {env: {...settings that differ from env:}, total_env_steps: N}, "
                                                f"got {given!r}")
    if not isinstance(given["env"], dict) or not given["env"]:
        raise SpecError("training.pretraining.env", f"expected a non-empty mapping of env settings, got {given['env']!r}")
    if "type" in given["env"]:
        raise SpecError("training.pretraining.env.type", "pretraining uses the run's environment type")
    steps = check_int_at_least(given["total_env_steps"], "training.pretraining.total_env_steps", 1)
    return {"env": dict(given["env"]), "total_env_steps": steps}


def _training_settings(config) -> dict:
    given = config.get("training") or {}
    if not isinstance(given, dict):
        raise SpecError("training", f"expected a mapping, got {given!r}")
    given = dict(given)
    pretraining = _pretraining_settings(given.pop("pretraining", None))
    unknown = sorted(set(given) - set(TRAINING_DEFAULTS))
    if unknown:
        hint = did_you_mean(unknown[0], TRAINING_DEFAULTS)
        raise SpecError(f"training.{unknown[0]}", f"unknown training setting{hint}. Known: "
                                                  f"{', '.join(list(TRAINING_DEFAULTS) + ['pretraining'])}.")
    settings = {**TRAINING_DEFAULTS, **given}
    for key, value in settings.items():
        check_int_at_least(value, f"training.{key}", 0 if key in _MAY_BE_ZERO else 1)
    settings["pretraining"] = pretraining
    return settings


def _export_settings(config) -> dict:
    """export:, checked: {allow_slower: bool, latency_rounds: int >= 3, latency_runs_per_round: int >= 1}."""
    given = config.get("export")
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise SpecError("export", f"expected a mapping such as {{allow_slower: true}}, got {given!r}")
    unknown = sorted(set(given) - set(EXPORT_DEFAULTS))
    if unknown:
        hint = did_you_mean(unknown[0], EXPORT_DEFAULTS)
        raise SpecError(f"export.{unknown[0]}", f"unknown export setting{hint}. Known: {', '.join(EXPORT_DEFAULTS)}.")
    settings = {**EXPORT_DEFAULTS, **given}
    check_bool(settings["allow_slower"], "export.allow_slower")
    for key, minimum in (("latency_rounds", _MIN_LATENCY_ROUNDS), ("latency_runs_per_round", 1)):
        check_int_at_least(settings[key], f"export.{key}", minimum)
    return settings


def build_agent_run(config) -> AgentRun:
    """Composes the execution and the agent; raises SpecError naming the key path."""
    training = _training_settings(config)
    export = _export_settings(config)
    seed = config.get("seed", 0)
    if not is_int(seed):
        raise SpecError("seed", f"expected an int, got {seed!r}")
    env_spec = config.get("env")
    if not isinstance(env_spec, dict) or "type" not in env_spec:
        raise SpecError("env", "an agent run needs an `env:` spec with a type, e.g. {type: xflow, graph: squeezenet1_1}")
    env_arguments = {key: value for key, value in env_spec.items() if key != "type"}
    # The execution builds the environments; a misspelt setting is named here, before anything is built.
    ENVIRONMENTS.check_arguments(env_spec["type"], env_arguments, "env")
    if training["pretraining"] is not None:
        ENVIRONMENTS.check_arguments(env_spec["type"], training["pretraining"]["env"], "training.pretraining.env")
    agent_spec = config.get("agent")
    if not isinstance(agent_spec, dict) or "type" not in agent_spec:
        raise SpecError("agent", "expected an agent spec with a type, e.g. {type: ppo}")
    agent_class = AGENTS.lookup(agent_spec["type"], "agent.type")
    if training["pretraining"] is not None and not getattr(agent_class, "pretrainable", False):
        raise SpecError("training.pretraining", f"the {agent_spec['type']!r} agent does not support pretraining (ppo does)")
    num_envs = agent_spec.get("num_envs", 4)
    execution_spec = dict(config.get("execution") or {"type": "local"})
    execution_spec.setdefault("type", "local")
    execution = EXECUTIONS.from_spec(execution_spec, "execution", env_spec=env_arguments, num_envs=num_envs)
    try:
        sizes = ObservationSizes.of_env(execution.sample_env)
        agent = AGENTS.from_spec({**agent_spec, "seed": agent_spec.get("seed", seed)}, "agent", sizes=sizes)
        return AgentRun(agent, execution, env_arguments, training, export, seed, execution_spec, sizes)
    except BaseException:
        execution.close()  # a Ray execution must not outlive a failed build
        raise


def _has_checkpoint(directory: str) -> bool:
    """Whether a trainer wrote a checkpoint under `directory` (its checkpoints/latest.json)."""
    return read_latest_pointer(os.path.join(directory, "checkpoints")) is not None


def pretrain(run: AgentRun, run_dir: str, resume: bool = False):
    """Trains the run's agent on `training.pretraining.env` first (curriculum pretraining).

    The pretraining environment is the run's `env:` with the settings of
    `training.pretraining.env` replacing its own (e.g. a 2-layer bert_base:
    the same layers in a graph a sixth the size, where episodes are short and
    a chain of rewrites is completed often enough to be learned); its
    metrics, TensorBoard logs and checkpoints go under `run_dir/pretraining`.
    With `resume`, a finished pretraining is restored from its last
    checkpoint (an unfinished one continues).

    Returns:
        The pretraining's TrainingSummary, or None without pretraining.

    Raises:
        SpecError: the pretraining environment's observation sizes differ
            from the run's (another rule library or location cap), naming
            training.pretraining.env.
    """
    settings = run.training["pretraining"]
    if settings is None:
        return None
    env_spec = {**run.env_spec, **settings["env"]}
    execution = EXECUTIONS.from_spec(run.execution_spec, "execution", env_spec=env_spec, num_envs=run.execution.num_envs)
    try:
        sizes = ObservationSizes.of_env(execution.sample_env)
        if sizes != run.sizes:
            raise SpecError("training.pretraining.env", f"its observations have sizes {sizes}, the run's env {run.sizes}; "
                                                        "one agent cannot act in both")
        directory = os.path.join(run_dir, "pretraining")
        os.makedirs(directory, exist_ok=True)
        trainer = run.agent.make_trainer(execution, directory, {**run.training, "total_env_steps": settings["total_env_steps"]},
                                         run.seed)
        return trainer.run(resume=resume and _has_checkpoint(directory))
    finally:
        execution.close()


@dataclasses.dataclass
class Training:
    """What the train step returns: the run's TrainingSummary, and its pretraining's (None without pretraining)."""

    summary: TrainingSummary
    pretraining: Optional[TrainingSummary]


def train(run: AgentRun, run_dir: str, resume: bool = False) -> Training:
    """Step 1: pretrains (with training.pretraining), then trains the agent, continuing checkpoints if `resume`.

    The run's execution is closed afterwards (its environments stay usable
    for evaluation: execution.make_env).
    """
    try:
        pretraining = pretrain(run, run_dir, resume)
        if pretraining is not None and resume:
            # A run stopped during (or right after) pretraining has no checkpoint of its own yet: it starts now.
            resume = _has_checkpoint(run_dir)
        trainer = run.agent.make_trainer(run.execution, run_dir, run.training, run.seed)
        return Training(trainer.run(resume=resume), pretraining)
    finally:
        run.execution.close()


def choose_export(env, evaluation: Evaluation, training: Training) -> ExportChoice:
    """Step 3: ranks the greedy policy's graph, the sampled policy's best and training's best by estimated cost."""
    return select_exported_graph(env, evaluation.greedy, training.summary.best_training_prefix, evaluation.best_sampled)


def _result_fields(config, run: AgentRun, env, evaluation: Evaluation, choice: ExportChoice, training: Training) -> dict:
    """result.json's fields that verification does not fill in."""
    sampled_episode = choice.candidates.get(SAMPLED_POLICY)
    training_episode = choice.candidates.get(BEST_TRAINING_EPISODE)
    summary, pretraining = training.summary, training.pretraining
    random_cost = evaluation.random_cost_ms
    return {
        "model": str(run.env_spec.get("graph")),
        ORIGINAL_MODEL_KEY: original_model_fields(run.env_spec["graph"], batch_size=run.env_spec.get("batch_size", 1),
                                                  sequence_length=run.env_spec.get("sequence_length"),
                                                  graph_options=run.env_spec.get("graph_options")),
        "agent": config.get("agent")["type"],
        "search": None,
        "cost_model": env.cost_model,
        "device": env.device,
        "initial_cost_ms": evaluation.initial_cost_ms,
        # Replaced by the exported candidate's own source; stays when the original is exported.
        "result_source": ORIGINAL,
        "greedy_policy_cost_ms": evaluation.greedy.final_runtime_ms,
        "sampled_policy_cost_ms": sampled_episode.final_runtime_ms if sampled_episode is not None else None,
        "sampled_evaluation_episodes": evaluation.sampled_episodes,
        "sampled_evaluation_seconds": evaluation.sampling_seconds,
        "best_training_cost_ms": training_episode.final_runtime_ms if training_episode is not None else None,
        "env_steps": summary.env_steps,
        "train_seconds": summary.train_seconds,
        "pretraining_env_steps": pretraining.env_steps if pretraining is not None else 0,
        "pretraining_seconds": pretraining.train_seconds if pretraining is not None else 0.0,
        "search_seconds": summary.train_seconds,
        "random_agent_final_cost_ms": random_cost,
        "beats_random_agent": random_cost is not None and evaluation.greedy.final_runtime_ms < random_cost,
        **summary.extra_result,
    }


def verify(run: AgentRun, env, choice: ExportChoice, fields: dict, run_dir: str) -> dict:
    """Step 4: verifies the candidates against the original in onnxruntime, times them, exports one; returns result.json.

    Writes optimized.onnx (the cheapest candidate that does not measure
    slower than the original, else the original; with export.allow_slower
    the cheapest) and result.json: `fields` plus the verification's
    (rlgraph_xflow.optimize.pipeline.write_verified_graph).

    Raises:
        RuntimeError: the environment's graph is not the model reloaded from the config.
        VerificationFailed: a candidate's outputs differ from the original's.
    """
    loaded = load_model(run.env_spec["graph"], batch_size=run.env_spec.get("batch_size", 1),
                        sequence_length=run.env_spec.get("sequence_length"), seed=run.seed,
                        graph_options=run.env_spec.get("graph_options"))
    if loaded.graph.hash() != env.initial_graph.hash():
        raise RuntimeError(f"the environment's graph and the reloaded {loaded.name!r} differ; cannot verify against it")
    return write_verified_graph(loaded, env.library, export_candidates(choice, fields["initial_cost_ms"]), fields, run_dir,
                                max_locations=env.max_locations, seed=run.seed, allow_slower=run.export["allow_slower"],
                                protocol=LatencyProtocol(rounds=run.export["latency_rounds"],
                                                         runs_per_round=run.export["latency_runs_per_round"]))


def _reward_unit(reward_spec) -> str:
    normalized = isinstance(reward_spec, dict) and reward_spec.get("normalize")
    return "fraction of the initial runtime" if normalized else "ms"


def report(config, run: AgentRun, env, choice: ExportChoice, training: Training, result: dict, run_dir: str) -> None:
    """Step 5: report.md with its plots (rlgraph_xflow.reporting.write_report), the exported graph's xfers last."""
    exported = choice.candidates.get(result["result_source"])
    write_report(run_dir, os.path.join(run_dir, "metrics.csv"), result, env.xfer_names,
                 training.summary.last_applied_per_episode + [exported.applied_xfer_ids if exported is not None else []],
                 title=f"{config.get('name') or 'run'}: {result['agent']} on {result['model']}",
                 reward_unit=_reward_unit(run.env_spec.get("reward")))


def _write_meta_graph(run: AgentRun, run_dir: str) -> None:
    """meta_graph.dot and the build summary of an agent with a component graph."""
    executor = getattr(run.agent, "executor", None)
    if executor is not None:
        with open(os.path.join(run_dir, "meta_graph.dot"), "w") as stream:
            stream.write(executor.meta_graph.to_dot())
        print(executor.summary(), flush=True)


def run_agent(config, run_dir: str, resume: bool = False) -> dict:
    """Trains, evaluates, chooses the export, verifies it and reports; returns result.json's content."""
    run = build_agent_run(config)
    _write_meta_graph(run, run_dir)
    training = train(run, run_dir, resume)
    # Evaluation is scored by cost alone: no exploration bonus.
    env = run.execution.make_env(novelty_bonus=0.0)
    evaluation = evaluate(run.agent, run.execution, env, run.training, run.seed)
    choice = choose_export(env, evaluation, training)
    result = verify(run, env, choice, _result_fields(config, run, env, evaluation, choice, training), run_dir)
    report(config, run, env, choice, training, result, run_dir)
    return result
