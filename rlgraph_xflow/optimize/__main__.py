"""`python -m rlgraph_xflow.optimize` — find a faster equivalent graph, verify it, report.

Usage:
  python -m rlgraph_xflow.optimize MODEL_OR_FILE --search greedy|backtracking
      [--alpha A] [--budget B] [--time-limit SECONDS] [--cost-model measured|analytic] [--device NAME] [--cost-table FILE]
      [--rules PATH ...] [--max-locations L] [--batch-size N]
      [--sequence-length S] [--dim NAME=VALUE ...] [--seed K]
      [--latency-rounds R] [--latency-runs-per-round N] [--allow-slower]
      [--rtol T] [--atol T] --out DIR

Writes DIR/optimized.onnx (only when verified) and DIR/result.json, and
prints a one-line summary: the real onnxruntime latency change first (with
its noise band and verdict), then the estimated cost change (named by its
cost model and device). When the optimized graph measures slower beyond the
noise, the original model is written as optimized.onnx instead and a second
line says so (`--allow-slower` exports the slower graph anyway). Exit
status: 0 verified; 2 bad input (one `error:` line on stderr, nothing
written to DIR); 3 verification failed (one `error:` line naming the rule
that broke equivalence; result.json with verified=false, no optimized.onnx).
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Optional, Sequence

from rlgraph_xflow.graphs.errors import CostError
from rlgraph_xflow.graphs.latency import LatencyProtocol, latency_line
from rlgraph_xflow.ops import DEFAULT_MAX_LOCATIONS
from rlgraph_xflow.optimize.pipeline import OptimizeInputError, VerificationFailed, optimize

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
    parser.add_argument("--time-limit", type=lambda text: _number(text, float, "--time-limit"), default=None, metavar="SECONDS",
                        help="backtracking: also stop popping graphs after this much wall time (> 0; default: only the budget)")
    parser.add_argument("--cost-model", choices=("measured", "analytic"), default="measured",
                        help="measured (default): onnxruntime's kernels as they run in a graph; analytic: a device profile's roofline")
    parser.add_argument("--device", default=None, help="analytic: device profile (default h100); measured: 'local' (default, this machine) or the device key of a measured table")
    parser.add_argument("--cost-table", default=None, metavar="FILE", help="measured: a cost-table file measured on another machine (its recorded device must match --device)")
    parser.add_argument("--rules", action="append", default=None, metavar="PATH", help="a *.rules file or folder (repeatable); default: the packaged library")
    parser.add_argument("--max-locations", type=lambda text: _number(text, int, "--max-locations"), default=None, help="locations per xfer (default 200)")
    parser.add_argument("--batch-size", type=lambda text: _number(text, int, "--batch-size"), default=1)
    parser.add_argument("--sequence-length", type=lambda text: _number(text, int, "--sequence-length"), default=None, help="bert_base only (default 64)")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="size of a symbolic dimension of an .onnx input")
    parser.add_argument("--seed", type=lambda text: _number(text, int, "--seed"), default=0, help="seed of the verification inputs")
    parser.add_argument("--latency-rounds", type=lambda text: _number(text, int, "--latency-rounds"), default=7,
                        help="alternating onnxruntime timing rounds (>= 3; the noise band is their spread)")
    parser.add_argument("--latency-runs-per-round", type=lambda text: _number(text, int, "--latency-runs-per-round"), default=10,
                        help="timed runs of each model per round (>= 1; a round's figure is their median)")
    parser.add_argument("--allow-slower", action="store_true",
                        help="export the optimized graph even when it measures slower than the original beyond the noise")
    parser.add_argument("--rtol", type=lambda text: _number(text, float, "--rtol"), default=1e-4)
    parser.add_argument("--atol", type=lambda text: _number(text, float, "--atol"), default=1e-4)
    parser.add_argument("--out", required=True, help="folder for optimized.onnx and result.json")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the CLI; returns the exit status (0 verified, 2 bad input, 3 verification failed)."""
    arguments = _parse_arguments(argv)
    try:
        protocol = _protocol(arguments)
        report = optimize(
            arguments.model,
            arguments.out,
            search=arguments.search,
            alpha=arguments.alpha,
            budget=arguments.budget,
            time_limit_seconds=arguments.time_limit,
            cost_model=arguments.cost_model,
            device=arguments.device,
            cost_table=arguments.cost_table,
            rules=arguments.rules,
            max_locations=DEFAULT_MAX_LOCATIONS if arguments.max_locations is None else arguments.max_locations,
            batch_size=arguments.batch_size,
            sequence_length=arguments.sequence_length,
            symbolic_dims=_parse_dims(arguments.dim),
            seed=arguments.seed,
            protocol=protocol,
            allow_slower=arguments.allow_slower,
            rtol=arguments.rtol,
            atol=arguments.atol,
        )
    except VerificationFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return EXIT_VERIFICATION_FAILED
    except (OptimizeInputError, CostError) as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_USER_ERROR
    print(_summary_line(report, arguments.out))
    if report["export_note"]:
        print(f"note: {report['export_note']}")
    return 0


def _protocol(arguments: argparse.Namespace):
    """The LatencyProtocol of --latency-rounds and --latency-runs-per-round; a bad value is an OptimizeInputError."""
    for option, value in (("--latency-rounds", arguments.latency_rounds), ("--latency-runs-per-round", arguments.latency_runs_per_round)):
        if value < 1:
            raise OptimizeInputError(f"{option} must be an int >= 1, found {value}")
    return LatencyProtocol(rounds=arguments.latency_rounds, runs_per_round=arguments.latency_runs_per_round)


def _summary_line(report: dict, out: str) -> str:
    """The CLI's one-line summary: real latency first, then the estimate named by its cost model and device.

    Example (one line):
        squeezenet1_1: onnxruntime CPU latency 2.341 -> 2.298 ms (-1.8% ± 2.0%, same); estimated cost
        (analytic h100) 0.3400 -> 0.2100 ms (-38.2%); greedy search, 12 rewrites, 0.52 s; verified
        (max |diff| 1e-06); exported the optimized graph; wrote DIR
    """
    initial, final = report["initial_cost_ms"], report["final_cost_ms"]
    estimated_change = f"{100 * (final / initial - 1):+.1f}%" if initial > 0 else "n/a"
    latency = latency_line(report["latency_ms_original"], report["latency_ms_optimized"], report["latency_change"],
                           report["latency_noise"], report["latency_verdict"])
    return (
        f"{report['model']}: {latency}; "
        f"estimated cost ({report['cost_model']} {report['device']}) {initial:.4f} -> {final:.4f} ms ({estimated_change}); "
        f"{report['search']} search, {len(report['applied'])} rewrites, {report['search_seconds']:.2f} s; "
        f"verified (max |diff| {report['max_abs_diff']:.3g}); exported the {report['exported']} graph; wrote {out}"
    )


if __name__ == "__main__":
    sys.exit(main())
