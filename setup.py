"""Installs rlgraph_xflow and builds its native engine.

The top-level folders components/, agents/ and ops/ are installed as
sub-packages of rlgraph_xflow (package_dir), so they never become top-level
import names. The C++ engine in ops/engine/ is compiled into the pybind11
module rlgraph_xflow.ops._engine; nothing is built by hand.
"""
import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def _package_tree(import_prefix, folder):
    """Lists the packages under folder (those with an __init__.py)."""
    packages, mapping = [], {}
    for dirpath, _, filenames in os.walk(os.path.join(ROOT, folder)):
        if "__init__.py" not in filenames:
            continue
        relative = os.path.relpath(dirpath, ROOT)
        sub = os.path.relpath(dirpath, os.path.join(ROOT, folder))
        name = import_prefix if sub == "." else import_prefix + "." + sub.replace(os.sep, ".")
        packages.append(name)
        mapping[name] = relative
    return packages, mapping


class _StrictBuildExt(build_ext):
    """Compiles the engine as C++17 with every warning on."""

    def finalize_options(self):
        super().finalize_options()
        # One translation unit per core: the engine is several files.
        self.parallel = self.parallel or os.cpu_count()

    def build_extensions(self):
        for extension in self.extensions:
            extension.extra_compile_args = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"]
        super().build_extensions()


def _engine_extension():
    sources = sorted(glob.glob("ops/engine/*.cc")) + sorted(glob.glob("ops/bindings/*.cc"))
    if not sources:
        return []
    import pybind11  # pinned in requirements.txt, installed before the package

    return [
        Extension(
            "rlgraph_xflow.ops._engine",
            sources=sources,
            include_dirs=[pybind11.get_include(), "ops"],
            language="c++",
        )
    ]


packages, package_dir = ["rlgraph_xflow"], {"rlgraph_xflow": "rlgraph_xflow"}
for import_prefix, folder in (
    ("rlgraph_xflow", "rlgraph_xflow"),
    ("rlgraph_xflow.components", "components"),
    ("rlgraph_xflow.agents", "agents"),
    ("rlgraph_xflow.ops", "ops"),
):
    found, mapping = _package_tree(import_prefix, folder)
    packages += [name for name in found if name not in packages]
    package_dir.update(mapping)

setup(
    name="rlgraph_xflow",
    version="0.1.0",
    description="RL agents declared as component graphs that optimise DNN computation graphs with a TASO-like engine",
    python_requires=">=3.11,<3.12",
    packages=packages,
    package_dir=package_dir,
    package_data={"rlgraph_xflow.ops": ["rules/*"]},
    ext_modules=_engine_extension(),
    cmdclass={"build_ext": _StrictBuildExt},
    zip_safe=False,
)
