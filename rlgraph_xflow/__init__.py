"""rlgraph_xflow: RL agents, declared as component graphs, that optimise DNN
computation graphs with a TASO-like substitution engine.

Sub-packages: core (component framework), components, agents, ops (the C++
engine and its faces), graphs (ONNX I/O and the model zoo), env.
Importing the package writes nothing and does not import TensorFlow.
"""
import os as _os
import tempfile as _tempfile

# Keras writes keras.json under ~/.keras on first import unless KERAS_HOME is
# set; keep $HOME clean by pointing it at a per-user temporary folder.
_os.environ.setdefault("KERAS_HOME", _os.path.join(_tempfile.gettempdir(), f"rlgraph_xflow-keras-{_os.getuid()}"))

# matplotlib caches fonts under ~/.cache/matplotlib unless MPLCONFIGDIR is set.
_os.environ.setdefault("MPLCONFIGDIR", _os.path.join(_tempfile.gettempdir(), f"rlgraph_xflow-matplotlib-{_os.getuid()}"))
# onnxruntime writes under ~/.cache on import unless its telemetry is off.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
