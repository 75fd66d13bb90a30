"""Installs rlgraph_xflow and builds its native code.

The top-level folders components/, agents/ and ops/ are installed as
sub-packages of rlgraph_xflow (package_dir), so they never become top-level
import names. Native code, built by the install with no manual step:
  libxflow_engine (static)        ops/engine/*.cc, the engine's logic, compiled once;
  rlgraph_xflow.ops._engine       ops/bindings/*.cc, the pybind11 face;
  rlgraph_xflow.ops._xflow_tf_ops ops/tf/*.cc, the TF custom-op face (loaded
                                  with tf.load_op_library).
"""
import concurrent.futures
import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_clib import build_clib
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden", "-fPIC"]
ENGINE_SOURCES = sorted(glob.glob("ops/engine/*.cc"))


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


class _ParallelBuildClib(build_clib):
    """Builds the static engine library, one translation unit per core."""

    def build_libraries(self, libraries):
        for name, info in libraries:
            sources = list(info["sources"])
            with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                object_lists = list(pool.map(
                    lambda source: self.compiler.compile(
                        [source], output_dir=self.build_temp, include_dirs=info.get("include_dirs"),
                        extra_postargs=info.get("cflags"), debug=self.debug),
                    sources))
            objects = [path for paths in object_lists for path in paths]
            self.compiler.create_static_lib(objects, name, output_dir=self.build_clib, debug=self.debug)


class _StrictBuildExt(build_ext):
    """Compiles the faces as C++17 with every warning on; adds TF's flags to the TF ops."""

    def finalize_options(self):
        super().finalize_options()
        self.parallel = self.parallel or os.cpu_count()

    def run(self):
        # `build` runs build_clib first, but a bare `build_ext` does not.
        if self.distribution.has_c_libraries():
            self.run_command("build_clib")
        super().run()

    def build_extensions(self):
        for extension in self.extensions:
            extension.extra_compile_args = list(CXX_FLAGS)
            if extension.name.endswith("_xflow_tf_ops"):
                import tensorflow as tf  # pinned; installed before the package

                # TF's headers are included as system headers so their own
                # warnings do not drown ours.
                extension.extra_compile_args += ["-isystem", tf.sysconfig.get_include()]
                extension.extra_compile_args += [f for f in tf.sysconfig.get_compile_flags() if not f.startswith("-I") and "std=" not in f]
                extension.extra_link_args = tf.sysconfig.get_link_flags()
        super().build_extensions()


def _native_modules():
    if not ENGINE_SOURCES:
        return [], []
    import pybind11  # pinned in requirements.txt, installed before the package

    libraries = [("xflow_engine", {"sources": ENGINE_SOURCES, "include_dirs": ["ops"], "cflags": CXX_FLAGS})]
    extensions = [
        Extension(
            "rlgraph_xflow.ops._engine",
            sources=sorted(glob.glob("ops/bindings/*.cc")),
            include_dirs=[pybind11.get_include(), "ops"],
            language="c++",
        )
    ]
    tf_sources = sorted(glob.glob("ops/tf/*.cc"))
    if tf_sources:
        extensions.append(Extension("rlgraph_xflow.ops._xflow_tf_ops", sources=tf_sources, include_dirs=["ops"], language="c++"))
    return libraries, extensions


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

libraries, extensions = _native_modules()
setup(
    name="rlgraph_xflow",
    version="0.1.0",
    description="RL agents declared as component graphs that optimise DNN computation graphs with a TASO-like engine",
    python_requires=">=3.11,<3.12",
    packages=packages,
    package_dir=package_dir,
    package_data={"rlgraph_xflow.ops": ["rules/*"]},
    libraries=libraries,
    ext_modules=extensions,
    cmdclass={"build_clib": _ParallelBuildClib, "build_ext": _StrictBuildExt},
    zip_safe=False,
)
