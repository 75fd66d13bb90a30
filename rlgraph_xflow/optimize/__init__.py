"""Graph optimization end to end: search, verify in onnxruntime, report; and equivalence fuzzing.

Holds (re-exported here):
  optimize, load_model, OptimizeInputError, VerificationFailed (pipeline.py):
    the pipeline behind `python -m rlgraph_xflow.optimize` (__main__.py).
  EquivalenceChecker, Comparison, first_breaking_step (equivalence.py):
    checks many graphs against one original run; bisects a rewrite path.
  replay, ReplayedPath, ReplayedStep (replay.py): rebuilds a rewrite path
    from its (xfer, location) steps.
  random_walk, RandomWalk, WalkStep (random_walk.py): uniform random rewrites,
    for fuzzing the rules and the ONNX round trip.

Example:
    >>> from rlgraph_xflow.optimize import optimize
    >>> report = optimize("resnet18", "out/", search="greedy")
    >>> report["verified"], report["cost_reduction"]
"""
from rlgraph_xflow.optimize.equivalence import Comparison, EquivalenceChecker, first_breaking_step
from rlgraph_xflow.optimize.pipeline import (
    COST_MODELS,
    OPTIMIZED_FILE,
    RESULT_FILE,
    SEARCHES,
    LoadedModel,
    OptimizeInputError,
    VerificationFailed,
    load_model,
    optimize,
)
from rlgraph_xflow.optimize.random_walk import RandomWalk, WalkStep, random_walk
from rlgraph_xflow.optimize.replay import ReplayedPath, ReplayedStep, replay

__all__ = [
    "COST_MODELS",
    "OPTIMIZED_FILE",
    "RESULT_FILE",
    "SEARCHES",
    "Comparison",
    "EquivalenceChecker",
    "LoadedModel",
    "OptimizeInputError",
    "RandomWalk",
    "ReplayedPath",
    "ReplayedStep",
    "VerificationFailed",
    "WalkStep",
    "first_breaking_step",
    "load_model",
    "optimize",
    "random_walk",
    "replay",
]
