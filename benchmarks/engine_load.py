"""Median milliseconds to load an ONNX file into the engine, price it and hash it.

Usage: python benchmarks/engine_load.py [--repeats N] [--models resnet50 bert_base]

Each zoo model is written to a temporary .onnx file once; every repeat then
times `load(path)` + `graph.cost(provider="analytic")` + `graph.hash()`.
Last line: `engine_load_ms resnet50=... bert_base=...` (medians).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert_base"])
    arguments = parser.parse_args()

    import onnx

    from rlgraph_xflow.graphs import load, zoo

    medians = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in arguments.models:
            path = os.path.join(folder, f"{name}.onnx")
            onnx.save(zoo.build(name), path)
            timings = {"load": [], "cost": [], "hash": [], "total": []}
            for _ in range(arguments.repeats):
                start = time.perf_counter()
                graph = load(path)
                loaded = time.perf_counter()
                graph.cost(provider="analytic", device="h100")
                priced = time.perf_counter()
                graph.hash()
                hashed = time.perf_counter()
                timings["load"].append(loaded - start)
                timings["cost"].append(priced - loaded)
                timings["hash"].append(hashed - priced)
                timings["total"].append(hashed - start)
            parts = "  ".join(f"{key} {statistics.median(values) * 1e3:.3f} ms" for key, values in timings.items())
            print(f"{name}: {parts}", file=sys.stderr)
            medians[name] = statistics.median(timings["total"]) * 1e3
    print("engine_load_ms " + " ".join(f"{name}={ms:.2f}" for name, ms in medians.items()))


if __name__ == "__main__":
    main()
