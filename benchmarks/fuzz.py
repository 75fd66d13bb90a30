"""Equivalence fuzzing at scale: many random walks per zoo graph, each checked in onnxruntime.

Usage: python benchmarks/fuzz.py [--walks 1000] [--steps 20] [--models ...] [--first-seed 0]

Walks are spread round-robin over the models (bert_base at sequence length
16); walk i uses seed first_seed + i. Each walk applies --steps rewrites drawn
uniformly from all valid (xfer, location) pairs, exports the result and
compares it with the original's outputs (rtol = atol = 1e-4). A failing walk
is bisected to the rewrite that broke it and printed.
Last line: `fuzz walks=... passed=... failed=... stopped_early=... rewrites=... failures_by_rule=rule:count,...`.
"""
import argparse
import collections
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walks", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--first-seed", type=int, default=0)
    arguments = parser.parse_args()

    from rlgraph_xflow.graphs import load, zoo
    from rlgraph_xflow.graphs.substitutions import load_rules
    from rlgraph_xflow.graphs.verify import random_inputs
    from rlgraph_xflow.optimize import EquivalenceChecker, first_breaking_step, random_walk

    library = load_rules()
    names = arguments.models or zoo.names()
    subjects = {}
    for name in names:
        original = zoo.build(name, sequence_length=16) if name == "bert_base" else zoo.build(name)
        subjects[name] = (load(original), EquivalenceChecker(original, random_inputs(original, seed=3)))
    counts = collections.Counter()
    blamed = collections.Counter()
    start = time.perf_counter()
    for index in range(arguments.walks):
        name = names[index % len(names)]
        seed = arguments.first_seed + index
        graph, checker = subjects[name]
        walk = random_walk(graph, library, num_steps=arguments.steps, seed=seed)
        counts["rewrites"] += len(walk.steps)
        counts["stopped_early"] += walk.stopped_early
        comparison = checker.compare(walk.graph)
        if comparison.equal:
            counts["passed"] += 1
            continue
        counts["failed"] += 1
        step = first_breaking_step(walk.graphs, checker)
        rule = "round_trip" if step in (0, None) else walk.steps[step - 1].rule
        blamed[rule] += 1
        error = " ".join((comparison.error or "").split())[:160]
        print(f"FAIL {name} seed {seed}: step {step} ({rule}); max |diff| {comparison.max_abs_diff:.3g}; {error}", flush=True)
    seconds = time.perf_counter() - start
    print(f"{arguments.walks} walks in {seconds:.0f} s over {', '.join(names)}")
    by_rule = ",".join(f"{rule}:{count}" for rule, count in blamed.most_common()) or "none"
    print(f"fuzz walks={arguments.walks} passed={counts['passed']} failed={counts['failed']} "
          f"stopped_early={counts['stopped_early']} rewrites={counts['rewrites']} failures_by_rule={by_rule}")


if __name__ == "__main__":
    main()
