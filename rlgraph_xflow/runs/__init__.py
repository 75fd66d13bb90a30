"""Runs: an agent run from a config, and the sweeps made of agent runs.

Modules:
  agent_run: an agent run as named steps: train, evaluate, choose the
    export, verify, report (run_agent); build_agent_run composes it.
  evaluation: the evaluate step: the greedy policy, sampled episodes and the
    random agent in the real environment.
  export_choice: the candidates a run may export, ranked by estimated cost.
  run_command: the `python -m rlgraph_xflow.run` command: a config's agent
    run or plain component graph, its run directory, its exit status.
  tune: `python -m rlgraph_xflow.tune`, hyperparameter sweeps on Ray Tune.
  temperature_sweep: `python -m rlgraph_xflow.temperature_sweep`, the world
    model's temperature against seeds.
  graph_evaluation: `python -m rlgraph_xflow.evaluate`, run directories'
    optimized graphs against their originals in onnxruntime and TensorFlow:
    real latency, noise band, verdict, peak memory, a chart per runtime.

The layer above agents: it may import every layer below (agents, execution,
env, graphs, ops, components, core, and reporting and optimize, which serve
it); nothing below imports it. The CLI stubs at the package root (run.py,
tune.py, temperature_sweep.py, evaluate.py) are its entry points.
"""
