"""The engine's C++ sources compile without a single warning at -Wall -Wextra."""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sysconfig

import pybind11
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_engine_sources_compile_with_warnings_as_errors():
    compiler = shutil.which("g++")
    assert compiler is not None, "g++ is needed to build the engine; install a C++17 compiler"
    sources = sorted((ROOT / "ops" / "engine").glob("*.cc")) + sorted((ROOT / "ops" / "bindings").glob("*.cc"))
    assert sources, "no engine sources found"
    command = [
        compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
        f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}", f"-I{ROOT / 'ops'}",
        *map(str, sources),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_syntax_check_catches_a_warning(tmp_path):
    """The check itself can fail: an unused variable under -Werror is an error."""
    source = tmp_path / "warning.cc"
    source.write_text("int main() { int unused = 0; return 0; }\n")
    result = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", str(source)],
                            capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        pytest.fail("g++ accepted a warning under -Werror")
    assert "unused" in result.stderr
