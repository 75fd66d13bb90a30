"""`python -m rlgraph_xflow.temperature_sweep CONFIG [key=value ...] --seeds 0 1 2 --out DIR`

The world model's temperature tau against seeds; the command lives in
rlgraph_xflow.runs.temperature_sweep.
"""
import sys

from rlgraph_xflow.runs.temperature_sweep import main

if __name__ == "__main__":
    sys.exit(main())
