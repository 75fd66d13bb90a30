"""`python -m rlgraph_xflow.graphs` — look at computation graphs.

Commands:
  stats MODEL_OR_FILE [--json] [--cost-model measured|analytic] [--device NAME] [--cost-table FILE]
      Ops, unique op types, opaque ops and the four cost metrics (runtime,
      FLOPs, memory access, kernel launches), like the dissertation's
      Table 4.1. MODEL_OR_FILE is a zoo name or an .onnx path.
  export MODEL --out FILE.onnx
      Writes a zoo model, or a keras.applications model named `keras:NAME`
      (random weights, through tf2onnx), to an ONNX file.

TensorFlow is imported only by `export keras:...`; `stats` uses the engine
and, for measured costs, onnxruntime.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from rlgraph_xflow.graphs import load, zoo
from rlgraph_xflow.graphs.cost_models import resolve_cost_source
from rlgraph_xflow.graphs.errors import EngineError, OnnxLoadError
from rlgraph_xflow.tf_runtime import load_tensorflow

EXIT_USER_ERROR = 2


def _parse_dims(pairs: Sequence[str]) -> dict:
    dims = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"--dim expects NAME=POSITIVE_INT, got {pair!r}")
        dims[name] = int(value)
    return dims


def _parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m rlgraph_xflow.graphs", description="Inspect and export computation graphs.")
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("stats", help="op counts and cost metrics of a graph")
    stats.add_argument("model", help="a zoo model name or an .onnx file")
    stats.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    stats.add_argument("--cost-model", choices=("measured", "analytic"), default="measured",
                       help="measured (default): onnxruntime's kernels as they run in a graph, on this machine or from a table; analytic: a roofline")
    stats.add_argument("--device", default=None, help="analytic: device profile (default h100); measured: 'local' (default) or a table's device key")
    stats.add_argument("--cost-table", default=None, metavar="FILE", help="measured: a cost-table file measured on another machine")
    stats.add_argument("--batch-size", type=int, default=1, help="batch size of zoo models and of symbolic batch dims")
    stats.add_argument("--sequence-length", type=int, default=None, help="bert_base sequence length (default 64)")
    stats.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="bind a symbolic dimension of an .onnx input")
    export = commands.add_parser("export", help="write a zoo or keras.applications model to ONNX")
    export.add_argument("model", help="a zoo model name, or keras:NAME (e.g. keras:mobilenet_v2)")
    export.add_argument("--out", required=True, help="the .onnx file to write")
    export.add_argument("--batch-size", type=int, default=1)
    export.add_argument("--sequence-length", type=int, default=None)
    export.add_argument("--input-size", type=int, default=None, help="keras: image side length")
    return parser.parse_args(argv)


def _zoo_model(name: str, batch_size: int, sequence_length: Optional[int]):
    options = {"sequence_length": sequence_length} if sequence_length is not None else {}
    if options and name != "bert_base":
        raise ValueError(f"--sequence-length applies to bert_base only, not {name!r}")
    return zoo.build(name, batch_size=batch_size, **options)


def _load(arguments):
    if arguments.model in zoo.names():
        return arguments.model, load(_zoo_model(arguments.model, arguments.batch_size, arguments.sequence_length))
    if not arguments.model.endswith(".onnx") and not os.path.exists(arguments.model):
        import difflib

        close = difflib.get_close_matches(arguments.model, zoo.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{arguments.model!r} is neither a zoo model{hint} nor an existing .onnx file; zoo models: {', '.join(zoo.names())}")
    graph = load(arguments.model, batch_size=arguments.batch_size, symbolic_dims=_parse_dims(arguments.dim))
    return os.path.splitext(os.path.basename(arguments.model))[0], graph


def _stats(arguments) -> int:
    source = resolve_cost_source(arguments.cost_model, arguments.device, arguments.cost_table)
    name, graph = _load(arguments)
    cost = graph.cost(provider=source.measured, device=source.device) if source.measured else graph.cost("analytic", device=source.device)
    row = {
        "name": name,
        "num_ops": graph.num_ops,
        "num_op_types": len(graph.op_types),
        "num_opaque": len(graph.opaque_ops),
        "runtime_ms": cost.runtime_ms,
        "flops": cost.flops,
        "mem_access_bytes": cost.mem_access_bytes,
        "kernel_launches": cost.kernel_launches,
    }
    if arguments.json:
        print(json.dumps(row))
        return 0
    print(f"Graph {name} ({source.describe()})")
    table = [
        ("Ops", f"{row['num_ops']}"),
        ("Unique op types", f"{row['num_op_types']}"),
        ("Opaque ops", f"{row['num_opaque']}"),
        ("Runtime (ms)", f"{row['runtime_ms']:.4f}"),
        ("FLOPs (G)", f"{row['flops'] / 1e9:.3f}"),
        ("Memory access (MB)", f"{row['mem_access_bytes'] / 1e6:.2f}"),
        ("Kernel launches", f"{row['kernel_launches']}"),
    ]
    width = max(len(label) for label, _ in table)
    for label, value in table:
        print(f"  {label:<{width}}  {value:>14}")
    print("  Op types: " + ", ".join(f"{op_type} x{count}" for op_type, count in graph.op_types.items()))
    if graph.opaque_ops:
        print("  Opaque: " + ", ".join(f"{op.name} ({op.onnx_op_type})" for op in graph.opaque_ops))
    return 0


def _export(arguments) -> int:
    import onnx

    if arguments.model.startswith("keras:"):
        load_tensorflow()

        model = zoo.from_keras(arguments.model[len("keras:"):], batch_size=arguments.batch_size, input_size=arguments.input_size)
    else:
        model = _zoo_model(arguments.model, arguments.batch_size, arguments.sequence_length)
    folder = os.path.dirname(os.path.abspath(arguments.out))
    os.makedirs(folder, exist_ok=True)
    temporary = arguments.out + ".tmp"
    onnx.save(model, temporary)
    os.replace(temporary, arguments.out)
    print(f"Wrote {arguments.out}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = _parse_arguments(argv)
    try:
        return _stats(arguments) if arguments.command == "stats" else _export(arguments)
    except (OnnxLoadError, EngineError, ValueError, TypeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
