"""What tests of command-line entry points share: calling a main(argv) and importing a benchmark script.

benchmarks/ is not a package, so a benchmark is imported from its path.
"""
import importlib.util
import os
import sys
from types import ModuleType
from typing import Callable

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(main: Callable, capsys, *arguments) -> tuple:
    """(exit status, stdout, stderr) of main([str(argument), ...]), argparse's SystemExit included."""
    try:
        status = main([str(argument) for argument in arguments])
    except SystemExit as exit_request:  # argparse rejects a malformed command line this way
        status = exit_request.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py, imported as the module '<name>_under_test'."""
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", os.path.join(REPO_ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the script's (postponed) annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
