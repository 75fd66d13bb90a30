"""The package's layering (README.md, "Layout"): no import runs against the arrows.

An import walk, not a list of files: every module of the installed package
(rlgraph_xflow and the folders installed under it: components, agents, ops)
is found on disk, its imports are parsed with ast (function-level imports
included, relative ones resolved), each rlgraph_xflow.* import is resolved to
the module it names and that module to its layer, and the importing layer
must be allowed to import it. A module in a folder or root file that has no
layer yet fails the test too, so a new one is placed deliberately.
"""
from __future__ import annotations

import ast
import importlib.util
import os

import pytest

PACKAGE = "rlgraph_xflow"
# Layer -> the layers it may import besides its own; "base" (the root
# package's config.py and tf_runtime.py, which import nothing of the
# package) may be imported by every layer. README.md's arrows (A -> B: B may
# import A and everything A may):
#   core -> graphs -> env -> execution -> agents -> runs -> CLIs
#   ops -> graphs: the engine's face, imported by graphs and everything above;
#   core -> components -> agents: components use core only;
#   graphs -> reporting (report.md, plots) -> runs;
#   graphs -> optimize (the search CLI and the verified export) -> runs.
MAY_IMPORT = {
    "base": set(),
    "core": set(),
    "ops": set(),
    "components": {"core"},
    "graphs": {"core", "ops"},
    "env": {"core", "ops", "graphs"},
    "execution": {"core", "ops", "graphs", "env"},
    "reporting": {"core", "ops", "graphs"},
    "optimize": {"core", "ops", "graphs"},
    "agents": {"core", "ops", "graphs", "env", "execution", "components"},
    "runs": {"core", "ops", "graphs", "env", "execution", "components", "agents", "reporting", "optimize"},
    "cli": {"core", "ops", "graphs", "env", "execution", "components", "agents", "reporting", "optimize", "runs"},
}
# Modules at the package root: the base modules and the thin CLI entry points.
ROOT_MODULES = {"config": "base", "tf_runtime": "base", "run": "cli", "tune": "cli", "temperature_sweep": "cli",
                "evaluate": "cli"}
# The sub-packages installed from their own top-level folders (setup.py's package_dir).
INSTALLED_FOLDERS = ("components", "agents", "ops")
# A root module this short that only forwards to a command elsewhere is a CLI stub, not one of the root's modules.
STUB_LINES = 15
MAX_ROOT_MODULES = 4


class UnknownModule(ValueError):
    """A module whose layer is not known: give its folder (or root file) a layer in MAY_IMPORT / ROOT_MODULES."""


def layer_of(module: str) -> str:
    """The layer of rlgraph_xflow.X... (X: a sub-package or a root module).

    Raises:
        UnknownModule: X has no layer.
    """
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise UnknownModule(f"{module} is not in {PACKAGE}")
    if len(parts) == 1:
        return "base"
    head = parts[1]
    if head in MAY_IMPORT and head not in ("base", "cli"):
        return head
    if head in ROOT_MODULES:
        return ROOT_MODULES[head]
    raise UnknownModule(f"{PACKAGE}.{head} has no layer: add it to MAY_IMPORT (a sub-package) or ROOT_MODULES "
                        f"(a root module), and to README.md's Layout")


def imported_modules(source: str, module: str, is_package: bool, known_modules) -> list[tuple[str, int]]:
    """The rlgraph_xflow modules `source` imports, with line numbers.

    Args:
        source: the module's code.
        module: its dotted name (relative imports are resolved against it).
        is_package: whether it is a package's __init__.
        known_modules: every module and package of the walk; `from A import n`
            names module A.n when A.n is one of them (or A is the root
            package), else module A.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                # The root package defines no public names of its own: `from rlgraph_xflow import X` names a module.
                names_module = candidate in known_modules or (origin == PACKAGE and not alias.name.startswith("_"))
                found.append((candidate if names_module else origin, node.lineno))
    return [(name, line) for name, line in found if name == PACKAGE or name.startswith(PACKAGE + ".")]


def layering_violations(modules: dict) -> list[str]:
    """Every import that runs against the arrows.

    Args:
        modules: dotted name -> (source, is_package, where) for every module.

    Returns:
        One line per offending import: where, which line, what it imports, and why not.
    """
    problems = []
    for module, (source, is_package, where) in sorted(modules.items()):
        try:
            layer = layer_of(module)
        except UnknownModule as error:
            problems.append(f"{where}: {error}")
            continue
        for imported, line in imported_modules(source, module, is_package, modules):
            try:
                target = layer_of(imported)
            except UnknownModule as error:
                problems.append(f"{where}:{line}: imports {imported}: {error}")
                continue
            if target not in (layer, "base") and target not in MAY_IMPORT[layer]:
                allowed = ", ".join(sorted(MAY_IMPORT[layer])) or "nothing but base"
                problems.append(f"{where}:{line}: {module} ({layer}) imports {imported} ({target}); "
                                f"{layer} may import {allowed}")
    return problems


def _package_folders() -> dict:
    """Dotted package name -> folder, as installed (the editable install maps the top-level folders)."""
    folders = {}
    for name in (PACKAGE, *(f"{PACKAGE}.{folder}" for folder in INSTALLED_FOLDERS)):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, f"{name} is not installed as a package"
        folders[name] = list(spec.submodule_search_locations)[0]
    return folders


def walk_package() -> dict:
    """Every .py module of the package: dotted name -> (source, is_package, path)."""
    folders = _package_folders()
    installed_elsewhere = {os.path.realpath(folder) for name, folder in folders.items() if name != PACKAGE}
    modules = {}
    for prefix, folder in folders.items():
        for directory, subdirectories, files in os.walk(folder):
            # A folder installed under its own name is walked as that package, not twice.
            subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__"
                                       and os.path.realpath(os.path.join(directory, d)) not in installed_elsewhere)
            relative = os.path.relpath(directory, folder)
            package = prefix if relative == "." else f"{prefix}.{relative.replace(os.sep, '.')}"
            for file in sorted(files):
                if not file.endswith(".py"):
                    continue
                path = os.path.join(directory, file)
                stem = file[:-3]
                name = package if stem == "__init__" else f"{package}.{stem}"
                with open(path, encoding="utf-8") as stream:
                    modules[name] = (stream.read(), stem == "__init__", path)
    return modules


# The checker on synthetic modules ---------------------------------------------------------------

def _synthetic(**sources) -> dict:
    """module name (dots as __) -> source, as layering_violations takes them; names ending in __init are packages."""
    modules = {}
    for key, source in sources.items():
        is_package = key.endswith("__init")
        name = key[:-len("__init")].rstrip("_") if is_package else key
        name = name.replace("__", ".")
        modules[name] = (source, is_package, name.replace(".", "/") + ("/__init__.py" if is_package else ".py"))
    return modules


def test_imports_along_the_arrows_pass():
    modules = _synthetic(
        rlgraph_xflow__core__spaces="import numpy\nfrom rlgraph_xflow.core.validation import is_int\n",
        rlgraph_xflow__core__validation="",
        rlgraph_xflow__graphs__zoo="from rlgraph_xflow.core import spaces\nfrom rlgraph_xflow import ops\n",
        rlgraph_xflow__ops__init="from rlgraph_xflow.ops._engine import Graph\nfrom rlgraph_xflow.tf_runtime import load_tensorflow\n",
        rlgraph_xflow__agents__ppo="from ..execution import local\nfrom rlgraph_xflow.components.heads import x\n",
        rlgraph_xflow__runs__agent_run="from rlgraph_xflow.agents import AGENTS\nfrom rlgraph_xflow.reporting import write_report\n",
        rlgraph_xflow__run="from rlgraph_xflow.runs.run_command import main\n",
    )
    assert layering_violations(modules) == []


AGAINST_THE_ARROWS = [
    ("rlgraph_xflow__core__spaces", "from rlgraph_xflow.components import heads\n", "components"),
    ("rlgraph_xflow__core__spaces", "from rlgraph_xflow import ops\n", "ops"),
    ("rlgraph_xflow__components__heads__value_head", "from rlgraph_xflow.env.observation import X\n", "env"),
    ("rlgraph_xflow__components__heads__value_head", "import rlgraph_xflow.graphs\n", "graphs"),
    ("rlgraph_xflow__env__xflow_env", "def f():\n    from rlgraph_xflow.agents import AGENTS\n", "agents"),
    ("rlgraph_xflow__execution__local", "from ..components import memories\n", "components"),
    ("rlgraph_xflow__agents__ppo", "from rlgraph_xflow.runs.agent_run import run_agent\n", "runs"),
    ("rlgraph_xflow__agents__ppo", "from rlgraph_xflow.reporting import write_report\n", "reporting"),
    ("rlgraph_xflow__reporting__report", "from rlgraph_xflow.execution.local import X\n", "execution"),
    ("rlgraph_xflow__graphs__zoo", "from rlgraph_xflow.optimize.pipeline import load_model\n", "optimize"),
    ("rlgraph_xflow__runs__tune", "from rlgraph_xflow.run import main\n", "cli"),
    ("rlgraph_xflow__config", "from rlgraph_xflow.core import spaces\n", "core"),
]


@pytest.mark.parametrize("module, source, offending", AGAINST_THE_ARROWS,
                         ids=[f"{module.split('__')[1]}-imports-{offending}" for module, _, offending in AGAINST_THE_ARROWS])
def test_an_import_against_the_arrows_is_found(module, source, offending):
    problems = layering_violations(_synthetic(**{module: source}))
    assert len(problems) == 1 and f"({offending})" in problems[0], problems


def test_relative_imports_resolve_against_their_package():
    modules = _synthetic(rlgraph_xflow__env__registry="", rlgraph_xflow__env__init="from . import registry\nfrom .. import config\n",
                         rlgraph_xflow__config="")
    source, is_package, _ = modules["rlgraph_xflow.env"]
    assert imported_modules(source, "rlgraph_xflow.env", is_package, modules) == [
        ("rlgraph_xflow.env.registry", 1), ("rlgraph_xflow.config", 2)]
    assert layering_violations(modules) == []


def test_a_module_without_a_layer_is_named():
    problems = layering_violations(_synthetic(rlgraph_xflow__training="from rlgraph_xflow.core import spaces\n",
                                              rlgraph_xflow__env__xflow_env="import rlgraph_xflow.utils\n"))
    assert len(problems) == 2
    assert all("has no layer" in problem for problem in problems)
    assert any(problem.startswith("rlgraph_xflow/training.py: rlgraph_xflow.training") for problem in problems)


# The real package --------------------------------------------------------------------------------

def test_the_walk_finds_every_layer():
    modules = walk_package()
    layers = {layer_of(name) for name in modules}
    assert layers == set(MAY_IMPORT), f"layers without modules or modules without layers: {layers ^ set(MAY_IMPORT)}"
    # Spot checks that the walk follows setup.py's package_dir and the nested folders.
    for name in ("rlgraph_xflow.components.memories.mdn_rnn", "rlgraph_xflow.agents.ppo_trainer",
                 "rlgraph_xflow.ops.tf_ops", "rlgraph_xflow.runs.agent_run", "rlgraph_xflow.execution.rollout_buffer"):
        assert name in modules, name


def test_no_import_in_the_package_runs_against_the_arrows():
    problems = layering_violations(walk_package())
    assert not problems, "imports against the layering (README.md, Layout):\n" + "\n".join(problems)


def test_the_package_root_holds_few_modules_besides_thin_cli_stubs():
    root = {name: source for name, (source, is_package, _) in walk_package().items()
            if name.count(".") == 1 and not is_package and not name.endswith(".__main__")}
    long_stubs = [name for name, source in root.items() if layer_of(name) == "cli" and len(source.splitlines()) >= STUB_LINES]
    assert not long_stubs, f"CLI entry points at the root stay thin stubs (under {STUB_LINES} lines): {long_stubs}"
    modules = sorted(name for name in root if layer_of(name) != "cli")
    assert len(modules) <= MAX_ROOT_MODULES, modules
