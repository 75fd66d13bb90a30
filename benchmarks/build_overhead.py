"""Trace + build seconds of a plain component graph (configs/policy_graph.yaml).

Usage: python benchmarks/build_overhead.py [--repeats N] [--config PATH]

Composes the config's model afresh for each repeat, then traces and builds
it (TensorFlow is imported before timing starts: its import is not build
overhead). The first build in a process pays TF's one-off function-tracing
warm-up, so it is reported apart from the median of the rest.
Last line: `build_overhead config=... first_s=... median_s=... trace_median_s=... build_median_s=...`
"""
import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "policy_graph.yaml"))
    arguments = parser.parse_args()

    from rlgraph_xflow.tf_runtime import load_tensorflow

    load_tensorflow()
    import rlgraph_xflow.components  # noqa: F401
    from rlgraph_xflow.config import load_config
    from rlgraph_xflow.core import Executor, from_spec, space_from_spec

    config = load_config(arguments.config)
    totals, traces, builds = [], [], []
    for _ in range(arguments.repeats):
        root = from_spec(config.get("model"), "model")
        spaces = {name: space_from_spec(spec) for name, spec in config.get("input_spaces").items()}
        stats = Executor(root, spaces).stats
        totals.append(stats.trace_seconds + stats.build_seconds)
        traces.append(stats.trace_seconds)
        builds.append(stats.build_seconds)
        print(f"trace {stats.trace_seconds:.4f} s  build {stats.build_seconds:.4f} s  variables {stats.variable_count}", file=sys.stderr)
    rest = totals[1:] or totals
    print(
        f"build_overhead config={os.path.basename(arguments.config)} first_s={totals[0]:.3f} "
        f"median_s={statistics.median(rest):.3f} trace_median_s={statistics.median(traces[1:] or traces):.4f} "
        f"build_median_s={statistics.median(builds[1:] or builds):.3f}"
    )


if __name__ == "__main__":
    main()
