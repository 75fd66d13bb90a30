"""Runs: what `python -m rlgraph_xflow.run`, `.tune` and `.temperature_sweep` do.

Modules:
  run_command: the `python -m rlgraph_xflow.run` command: a config's agent
    run or component graph, its run directory, its exit status.
  agent_run: an agent run: train, evaluate, choose the export, verify, report.
  tune: hyperparameter sweeps on Ray Tune, every trial an agent run.
  temperature_sweep: the world model's temperature against seeds.

The layer above agents: nothing below it (agents, execution, env, graphs,
components, core) imports it; the CLI stubs at the package root do.
"""
