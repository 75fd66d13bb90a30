"""`python -m rlgraph_xflow.tune SWEEP.yaml [key=value ...] [--out DIR] [--address ADDRESS]`

Hyperparameter sweeps on Ray Tune; the command lives in rlgraph_xflow.runs.tune
(so Ray pickles its trainable by reference to that module, never to __main__).
"""
import sys

from rlgraph_xflow.runs.tune import main

if __name__ == "__main__":
    sys.exit(main())
