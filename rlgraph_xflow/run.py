"""`python -m rlgraph_xflow.run CONFIG [key=value ...] [--out DIR] [--dry-run] [--resume]`

Runs a config: an agent run, or a plain component graph. The command lives
in rlgraph_xflow.runs.run_command; this module is its entry point.
"""
import sys

from rlgraph_xflow.runs.run_command import main

if __name__ == "__main__":
    sys.exit(main())
