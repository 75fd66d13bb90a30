"""`python -m rlgraph_xflow.optimize` — find a faster equivalent graph, verify it, report.

Usage:
  python -m rlgraph_xflow.optimize MODEL_OR_FILE --search greedy|backtracking
      [--alpha A] [--budget B] [--cost-model analytic|measured] [--device NAME]
      [--rules PATH ...] [--max-locations L] [--batch-size N]
      [--sequence-length S] [--dim NAME=VALUE ...] [--seed K]
      [--latency-runs R] [--rtol T] [--atol T] --out DIR

Writes DIR/optimized.onnx (only when verified) and DIR/result.json, and
prints a one-line summary. Exit status: 0 verified; 2 bad input (one
`error:` line on stderr, nothing written to DIR); 3 verification failed (one
`error:` line naming the rule that broke equivalence; result.json with
verified=false, no optimized.onnx).
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Optional, Sequence

EXIT_USER_ERROR = 2
EXIT_VERIFICATION_FAILED = 3


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `error:` line (exit 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: type, option: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} expects {'an integer' if kind is int else 'a number'}, found {text!r}") from None


def _parse_dims(pairs: Sequence[str]) -> dict[str, int]:
    from rlgraph_xflow.optimize.pipeline import OptimizeInputError

    dims = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name or not value.strip().isdigit() or int(value) < 1:
            raise OptimizeInputError(f"--dim expects NAME=POSITIVE_INT, found {pair!r}")
        dims[name] = int(value)
    return dims


def _parse_arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = _ArgumentParser(prog="python -m rlgraph_xflow.optimize", description="Find a faster equivalent graph, verify it in onnxruntime, report.")
    parser.add_argument("model", help="a zoo model name (resnet18, resnet50, inception_v3, squeezenet1_1, bert_base) or an .onnx file")
    parser.add_argument("--search", required=True, choices=("greedy", "backtracking"))
    parser.add_argument("--alpha", type=lambda text: _number(text, float, "--alpha"), default=None, help="backtracking: queue candidates cheaper than alpha * best (>= 1, default 1.05)")
    parser.add_argument("--budget", type=lambda text: _number(text, int, "--budget"), default=None, help="backtracking: graphs explored (>= 1, default 1000)")
    parser.add_argument("--cost-model", choices=("analytic", "measured"), default="analytic")
    parser.add_argument("--device", default=None, help="analytic: device profile (default h100); measured: the cost cache's device key (default: this CPU)")
    parser.add_argument("--rules", action="append", default=None, metavar="PATH", help="a *.rules file or folder (repeatable); default: the packaged library")
    parser.add_argument("--max-locations", type=lambda text: _number(text, int, "--max-locations"), default=None, help="locations per xfer (default 200)")
    parser.add_argument("--batch-size", type=lambda text: _number(text, int, "--batch-size"), default=1)
    parser.add_argument("--sequence-length", type=lambda text: _number(text, int, "--sequence-length"), default=None, help="bert_base only (default 64)")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="size of a symbolic dimension of an .onnx input")
    parser.add_argument("--seed", type=lambda text: _number(text, int, "--seed"), default=0, help="seed of the verification inputs")
    parser.add_argument("--latency-runs", type=lambda text: _number(text, int, "--latency-runs"), default=20, help="timed onnxruntime runs per model (>= 20)")
    parser.add_argument("--rtol", type=lambda text: _number(text, float, "--rtol"), default=1e-4)
    parser.add_argument("--atol", type=lambda text: _number(text, float, "--atol"), default=1e-4)
    parser.add_argument("--out", required=True, help="folder for optimized.onnx and result.json")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the CLI; returns the exit status (0 verified, 2 bad input, 3 verification failed)."""
    arguments = _parse_arguments(argv)
    from rlgraph_xflow.graphs.errors import CostError
    from rlgraph_xflow.ops import _engine
    from rlgraph_xflow.optimize.pipeline import OptimizeInputError, VerificationFailed, optimize

    try:
        report = optimize(
            arguments.model,
            arguments.out,
            search=arguments.search,
            alpha=arguments.alpha,
            budget=arguments.budget,
            cost_model=arguments.cost_model,
            device=arguments.device,
            rules=arguments.rules,
            max_locations=_engine.DEFAULT_MAX_LOCATIONS if arguments.max_locations is None else arguments.max_locations,
            batch_size=arguments.batch_size,
            sequence_length=arguments.sequence_length,
            symbolic_dims=_parse_dims(arguments.dim),
            seed=arguments.seed,
            latency_runs=arguments.latency_runs,
            rtol=arguments.rtol,
            atol=arguments.atol,
        )
    except VerificationFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return EXIT_VERIFICATION_FAILED
    except (OptimizeInputError, CostError) as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_USER_ERROR
    print(
        f"{report['model']}: {report['search']} search, cost {report['initial_cost_ms']:.4f} -> {report['final_cost_ms']:.4f} ms "
        f"({100 * report['cost_reduction']:.1f}% less, {len(report['applied'])} rewrites, {report['search_seconds']:.2f} s); "
        f"verified (max |diff| {report['max_abs_diff']:.3g}); onnxruntime {report['ort_latency_ms_original']:.3f} -> "
        f"{report['ort_latency_ms_optimized']:.3f} ms; wrote {arguments.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
