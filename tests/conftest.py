"""Test-wide environment: quiet TF, and nothing written under $HOME.

Keras, our cost cache and Ray would otherwise write under the home folder;
every such path points into one temporary folder for the session.
"""
import os
import tempfile

_SCRATCH = tempfile.mkdtemp(prefix="rlgraph_xflow-tests-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_HOME"] = os.path.join(_SCRATCH, "keras")
os.environ["RLGRAPH_XFLOW_CACHE_DIR"] = os.path.join(_SCRATCH, "cache")
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["MPLCONFIGDIR"] = os.path.join(_SCRATCH, "matplotlib")
os.environ["RAY_TMPDIR"] = os.path.join(_SCRATCH, "ray")
