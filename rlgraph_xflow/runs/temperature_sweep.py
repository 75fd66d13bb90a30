"""`python -m rlgraph_xflow.temperature_sweep CONFIG [key=value ...] --seeds 0 1 2 --out DIR`

The command behind the rlgraph_xflow.temperature_sweep entry point. Trains
the world-model agent of CONFIG once per (temperature tau, seed),
sequentially, each point a normal run directory DIR/tau-<tau>/seed-<seed>
(as `python -m rlgraph_xflow.run` writes it: run_command.main runs it), and
tabulates, like the dissertation's Table 4.3, the world-model score against
the real score, mean +- standard deviation over seeds:

  world-model score: the runtime change the world model predicts for the
    trained controller's greedy policy (its mean dream return; with a
    normalised incremental reward that is the fractional runtime saving,
    otherwise it is divided by the initial runtime), in percent, negative
    when faster;
  real score: the runtime change of the greedy policy's graph in the real
    environment (result.json's greedy_policy_cost_ms against initial_cost_ms;
    not the exported graph's cost_reduction, which may come from a random
    training rollout), in percent.

Writes DIR/temperature_sweep.csv (one row per run and the per-tau summary)
and DIR/temperature_sweep.md. Functions: run_sweep, summarise, main.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Optional, Sequence

import numpy as np

from rlgraph_xflow.config import load_config
from rlgraph_xflow.runs.run_command import main as run_main

DEFAULT_TEMPERATURES = (0.1, 0.5, 1.0, 1.5, 2.0, 3.0)


def _point_dir(out: str, temperature: float, seed: int) -> str:
    return os.path.join(out, f"tau-{temperature:g}", f"seed-{seed}")


def _normalised_reward(config) -> bool:
    reward = (config.get("env") or {}).get("reward")
    return isinstance(reward, dict) and bool(reward.get("normalize"))


def run_sweep(config_path: str, overrides: Sequence[str], temperatures: Sequence[float], seeds: Sequence[int], out: str) -> list:
    """Runs every (tau, seed) point; returns one record per run.

    Raises:
        ValueError: when CONFIG is not a world-model agent config, or a point fails.
    """
    config = load_config(config_path, list(overrides))
    agent_type = (config.get("agent") or {}).get("type")
    if agent_type != "world_model":
        raise ValueError(f"{config_path}: agent.type: a temperature sweep needs a world_model agent, found {agent_type!r}")
    normalised = _normalised_reward(config)
    records = []
    for temperature in temperatures:
        for seed in seeds:
            run_dir = _point_dir(out, temperature, seed)
            status = run_main([config_path, *overrides, f"agent.temperature={temperature}", f"seed={seed}", "--out", run_dir])
            result_path = os.path.join(run_dir, "result.json")
            if status != 0 or not os.path.isfile(result_path):
                raise ValueError(f"the run for tau={temperature}, seed={seed} failed (exit status {status}); see {run_dir}")
            with open(result_path) as stream:
                result = json.load(stream)
            predicted = result["dream_score"] if normalised else result["dream_score"] / result["initial_cost_ms"]
            records.append({"temperature": float(temperature), "seed": int(seed), "world_model_score": -100.0 * predicted,
                            "real_score": 100.0 * (result["greedy_policy_cost_ms"] - result["initial_cost_ms"]) / result["initial_cost_ms"],
                            "verified": bool(result.get("verified")),
                            "run_dir": os.path.relpath(run_dir, out)})
    return records


def summarise(records: Sequence[dict]) -> list:
    """Per temperature: mean and (population) standard deviation of both scores over seeds."""
    rows = []
    for temperature in sorted({record["temperature"] for record in records}):
        chosen = [record for record in records if record["temperature"] == temperature]
        world, real = np.array([r["world_model_score"] for r in chosen]), np.array([r["real_score"] for r in chosen])
        rows.append({"temperature": temperature, "seeds": len(chosen), "world_model_mean": float(world.mean()),
                     "world_model_std": float(world.std()), "real_mean": float(real.mean()), "real_std": float(real.std())})
    return rows


def write_tables(records: Sequence[dict], summary: Sequence[dict], out: str, config_path: str) -> None:
    """DIR/temperature_sweep.csv and DIR/temperature_sweep.md."""
    with open(os.path.join(out, "temperature_sweep.csv"), "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["temperature", "seed", "world_model_score_percent", "real_score_percent", "verified", "run_dir"])
        for record in records:
            writer.writerow([record["temperature"], record["seed"], f"{record['world_model_score']:.4f}",
                             f"{record['real_score']:.4f}", record["verified"], record["run_dir"]])
        writer.writerow([])
        writer.writerow(["temperature", "seeds", "world_model_mean", "world_model_std", "real_mean", "real_std"])
        for row in summary:
            writer.writerow([row["temperature"], row["seeds"], *(f"{row[key]:.4f}" for key in (
                "world_model_mean", "world_model_std", "real_mean", "real_std"))])
    best = min(summary, key=lambda row: row["real_mean"])
    lines = [f"# Temperature sweep: {os.path.basename(config_path)}", "",
             "Runtime change of the greedy controller's graph, mean ± std over seeds (negative is faster).",
             "World-model score: as the world model predicts it (the dream); real score: in the real environment.", "",
             "| Temperature | World-model score | Real score | Seeds |", "| --- | --- | --- | --- |"]
    for row in summary:
        cells = [f"{row['temperature']:g}", f"{row['world_model_mean']:.2f}% ± {row['world_model_std']:.2f}%",
                 f"{row['real_mean']:.2f}% ± {row['real_std']:.2f}%", str(row["seeds"])]
        if row is best:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Best real score in bold. Each point is a run directory under tau-<tau>/seed-<seed>."]
    with open(os.path.join(out, "temperature_sweep.md"), "w") as stream:
        stream.write("\n".join(lines) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlgraph_xflow.temperature_sweep",
                                     description="Sweep the world model's temperature tau; tabulate world-model vs real score.")
    parser.add_argument("config", help="a world-model agent config")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides applied to every point")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--temperatures", type=float, nargs="+", default=list(DEFAULT_TEMPERATURES))
    parser.add_argument("--out", required=True, help="sweep directory")
    arguments = parser.parse_args(argv)
    if any(temperature < 0 for temperature in arguments.temperatures):
        parser.error(f"--temperatures must be >= 0, got {arguments.temperatures}")
    os.makedirs(arguments.out, exist_ok=True)
    try:
        records = run_sweep(arguments.config, arguments.overrides, arguments.temperatures, arguments.seeds, arguments.out)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = summarise(records)
    write_tables(records, summary, arguments.out, arguments.config)
    print(open(os.path.join(arguments.out, "temperature_sweep.md")).read())
    return 0
