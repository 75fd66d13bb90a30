"""rlgraph_xflow: RL agents, declared as component graphs, that optimise DNN
computation graphs with a TASO-like substitution engine.

Sub-packages, one a layer (README.md, "Layout", says who may import whom):
core (component framework, checkpoints, metrics.csv), ops (the C++ engine
and its faces), graphs (ONNX I/O, the model zoo, verification, costs), env,
execution (rollouts, episodes, the trainers' shared base), components,
agents (each agent beside its trainer), reporting, optimize (search and
verified export), runs (agent runs and sweeps). At the root: config.py,
tf_runtime.py and the CLI entry points run.py, tune.py, temperature_sweep.py.
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
