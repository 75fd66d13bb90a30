"""Loading TensorFlow quietly.

Functions in this file:
  load_tensorflow: imports TensorFlow once with its start-up chatter hidden.

The CUDA-capable TF wheel prints CUDA-probing lines on a machine without a
GPU, and some of them are written before TF's logging reads
TF_CPP_MIN_LOG_LEVEL, so the variable alone cannot hide them. We capture the
process's stderr while TF imports and initialises its devices, and print what
was captured only if that fails or RLGRAPH_XFLOW_TF_VERBOSE=1 asks for it.
"""
from __future__ import annotations

import os
import sys
import tempfile


def load_tensorflow():
    """Imports TensorFlow (once), initialises its devices, returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    verbose = os.environ.get("RLGRAPH_XFLOW_TF_VERBOSE") == "1"
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            if failed or verbose:
                captured.seek(0)
                sys.stderr.write(captured.read().decode(errors="replace"))
    return tf
