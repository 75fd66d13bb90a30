"""Packaging: import names, no side effects on import."""
import os
import subprocess
import sys


def _python(code, home, cwd):
    env = {key: value for key, value in os.environ.items() if key not in ("KERAS_HOME", "RLGRAPH_XFLOW_CACHE_DIR")}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_folders_are_installed_under_rlgraph_xflow_only(tmp_path):
    code = (
        "import importlib.util, rlgraph_xflow.components, rlgraph_xflow.agents, rlgraph_xflow.ops\n"
        "print([importlib.util.find_spec(n) is None for n in ('components', 'agents', 'ops')])\n"
    )
    result = _python(code, tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True, True, True]"


def test_import_writes_nothing_to_home_and_does_not_import_tensorflow(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "import sys, rlgraph_xflow, rlgraph_xflow.core, rlgraph_xflow.components, rlgraph_xflow.config, rlgraph_xflow.run\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = _python(code, home, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert list(home.iterdir()) == []


def test_building_with_keras_loaded_writes_nothing_to_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "import rlgraph_xflow\n"
        "import tensorflow as tf, tf_keras, keras\n"
        "keras.layers.Dense(2)(tf.zeros((1, 3)))\n"
    )
    result = _python(code, home, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(home.iterdir()) == []
