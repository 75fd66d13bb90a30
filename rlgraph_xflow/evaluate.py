"""`python -m rlgraph_xflow.evaluate INPUT [INPUT ...] [--runtime onnxruntime|tensorflow|both] --out DIR`

Measures optimized graphs against their originals (real latency with its
noise band, peak memory); the command lives in rlgraph_xflow.runs.graph_evaluation.
"""
import sys

from rlgraph_xflow.runs.graph_evaluation import main

if __name__ == "__main__":
    sys.exit(main())
