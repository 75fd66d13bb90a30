"""Overhead of the component framework on one PPO update, and the agent's build time.

Usage: python benchmarks/framework_overhead.py [--repeats N] [--graph squeezenet1_1]

Two ways to run the same PPO minibatch update:
  framework: PPOAgent's executor.execute("update", ...): space checks of every
    input, numpy -> tensor conversion, the built tf.function, tensors -> numpy;
  direct: the very same concrete tf.function called with tensors prepared once,
    the way a hand-written training step would call its own tf.function.
The math is identical (the framework adds no ops: API bodies only route
values into graph functions), so the ratio isolates what the framework costs
per call. The two are timed alternately, call by call, and compared by their
medians. Also reports the agent's trace and build seconds: everything a run
pays between composing the agent and its first call (all five root APIs are
traced at build, none lazily), with the build split into variable creation and
each root API's tf.function on stderr.
Last line: `framework_overhead ratio=... framework_ms=... direct_ms=... trace_build_s=...`
"""
import argparse
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--graph", default="squeezenet1_1")
    arguments = parser.parse_args()

    from rlgraph_xflow.tf_runtime import load_tensorflow

    tf = load_tensorflow()
    import tree

    from rlgraph_xflow.agents import AGENTS
    from rlgraph_xflow.agents.agent import ObservationSizes
    from rlgraph_xflow.execution.rollout_buffer import RolloutBuffer
    from rlgraph_xflow.execution.local import LocalExecution

    execution = LocalExecution({"graph": arguments.graph, "max_steps": 10}, num_envs=4)
    sizes = ObservationSizes.of_env(execution.sample_env)
    # Process CPU seconds beside the wall-clock figures: on a busy machine the
    # wall clock also counts time spent waiting for a core.
    cpu_start = time.process_time()
    agent = AGENTS.from_spec({"type": "ppo", "num_envs": 4, "rollout_steps": 16, "minibatch_size": 64}, "agent",
                             sizes=sizes)
    agent_cpu_seconds = time.process_time() - cpu_start
    stats = agent.build_stats
    buffer = RolloutBuffer(4, 16, seed=0)
    execution.collect(agent, buffer)
    series = buffer.time_series()
    advantages, returns = agent.executor.execute("estimate_advantages", series["rewards"], series["values"], series["dones"],
                                                 agent.bootstrap_values(execution.observation))
    buffer.set_advantages(advantages, returns)
    batch = next(buffer.minibatches(64, shuffle=False))
    inputs = (batch["observations"], batch["xfers"], batch["locations"], batch["log_probs"], batch["advantages"],
              batch["returns"], batch["values"])
    root_api = agent.executor.meta_graph.root_apis["update"]
    tensors = [tree.map_structure(lambda v, spec: tf.convert_to_tensor(v, dtype=spec.dtype), value,
                                  root_api.input_spaces[name].tensor_spec())
               for name, value in zip(root_api.argument_names, inputs)]
    direct = agent.executor.functions["update"]

    def framework_call():
        agent.executor.execute("update", *inputs)

    def direct_call():
        tree.map_structure(lambda t: t.numpy(), direct(*tensors))

    # The two ways alternate call by call (which goes first alternates too),
    # so a change in the machine's load during the run hits both alike.
    framework_call()
    direct_call()
    timings = {framework_call: [], direct_call: []}
    for repeat in range(arguments.repeats):
        for call in ((framework_call, direct_call) if repeat % 2 == 0 else (direct_call, framework_call)):
            start = time.perf_counter()
            call()
            timings[call].append(time.perf_counter() - start)
    framework_ms = statistics.median(timings[framework_call]) * 1e3
    direct_ms = statistics.median(timings[direct_call]) * 1e3
    functions = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in stats.function_seconds.items())
    print(f"framework {framework_ms:.2f} ms, direct {direct_ms:.2f} ms; trace {stats.trace_seconds:.3f} s, "
          f"build {stats.build_seconds:.3f} s (variables {stats.variable_seconds:.3f} s; {functions}), "
          f"{stats.variable_count} variables; composing, tracing and building took {agent_cpu_seconds:.3f} s of CPU",
          file=sys.stderr)
    print(f"framework_overhead ratio={framework_ms / direct_ms:.3f} framework_ms={framework_ms:.2f} direct_ms={direct_ms:.2f} "
          f"trace_build_s={stats.trace_seconds + stats.build_seconds:.2f}")


if __name__ == "__main__":
    main()
