"""The best-prefix bookkeeping (EpisodeProgress per episode, keep_best_prefix over episodes) against brute force.

The reference sees only what an environment records per step: the action,
whether it was invalid, and the runtime after it. It lists every graph of
an episode (the initial one, then one per applied rewrite) and takes the
first cheapest; over episodes, the first cheapest among those that applied
a rewrite.
"""
import json

import numpy as np
import pytest

from rlgraph_xflow.execution.local import EpisodeProgress
from rlgraph_xflow.execution.training import BestTrainingPrefix, keep_best_prefix

NUM_XFERS = 5
NO_OP = NUM_XFERS
INITIAL = 10.0


def _record(steps, resume_after=None):
    """Runs (xfer, location, invalid, runtime after) steps through EpisodeProgress, optionally via a JSON checkpoint."""
    progress = EpisodeProgress(INITIAL, NUM_XFERS)
    for position, (xfer, location, invalid, runtime) in enumerate(steps):
        if position == resume_after:
            progress = EpisodeProgress.from_state(json.loads(json.dumps(progress.get_state())), NUM_XFERS)
        progress.add_step(xfer, location, -1.0 if invalid else 0.5, {"invalid": invalid, "runtime_ms": runtime})
    return progress.record(steps[-1][3] if steps else INITIAL)


def _brute_force_episode(steps):
    applied = [(xfer, location) for xfer, location, invalid, _ in steps if xfer != NO_OP and not invalid]
    graphs = [INITIAL] + [runtime for xfer, _, invalid, runtime in steps if xfer != NO_OP and not invalid]
    best_index = min(range(len(graphs)), key=lambda index: (graphs[index], index))
    return applied, graphs[best_index], best_index


def _brute_force_over_episodes(episodes):
    candidates = [_brute_force_episode(steps) for steps in episodes]
    candidates = [candidate for candidate in candidates if candidate[0]]
    if not candidates:
        return None
    applied, runtime, length = min(candidates, key=lambda candidate: candidate[1])  # min keeps the first of equal ones
    return runtime, applied[:length]


GETS_WORSE_AFTER_ITS_BEST = [(0, 1, False, 8.0), (2, 0, False, 6.0), (1, 3, False, 7.0), (4, 0, False, 9.0), (NO_OP, 0, False, 9.0)]
ONLY_NO_OP = [(NO_OP, 0, False, INITIAL)]
INVALID_ACTIONS = [(3, 7, True, INITIAL), (1, 0, False, 9.0), (2, 2, True, 9.0), (0, 0, False, 9.5)]
ONLY_WORSE = [(1, 1, False, 11.0), (1, 0, False, 12.0)]
TIE = [(0, 0, False, 8.0), (0, 1, False, 9.0), (3, 0, False, 8.0)]


@pytest.mark.parametrize("steps, best_runtime, best_length", [
    (GETS_WORSE_AFTER_ITS_BEST, 6.0, 2),
    (ONLY_NO_OP, INITIAL, 0),
    (INVALID_ACTIONS, 9.0, 1),
    (ONLY_WORSE, INITIAL, 0),
    (TIE, 8.0, 1),
])
def test_an_episodes_best_prefix_is_its_first_cheapest_graph(steps, best_runtime, best_length):
    record = _record(steps)
    applied, reference_runtime, reference_length = _brute_force_episode(steps)
    assert (record.best_runtime_ms, record.best_prefix_length) == (reference_runtime, reference_length) == (best_runtime, best_length)
    assert record.applied_steps == applied and record.applied_xfers == [xfer for xfer, _ in applied]
    assert record.length == len(steps)


def test_the_best_over_episodes_skips_episodes_that_applied_nothing():
    episodes = [ONLY_NO_OP, INVALID_ACTIONS, GETS_WORSE_AFTER_ITS_BEST, ONLY_WORSE, TIE]
    best = keep_best_prefix(None, [_record(steps) for steps in episodes])
    assert (best.runtime_ms, best.steps) == _brute_force_over_episodes(episodes) == (6.0, [(0, 1), (2, 0)])
    assert keep_best_prefix(None, [_record(ONLY_NO_OP), _record([(2, 5, True, INITIAL), (NO_OP, 0, False, INITIAL)])]) is None
    # An episode whose rewrites only made the graph slower still counts: its best graph is the initial one.
    only_worse = keep_best_prefix(None, [_record(ONLY_WORSE)])
    assert (only_worse.runtime_ms, only_worse.steps) == (INITIAL, [])
    # A later episode must be strictly cheaper to replace the best.
    assert keep_best_prefix(best, [_record([(4, 4, False, 6.0)])]) is best


def test_random_episodes_match_brute_force_also_through_checkpoints():
    rng = np.random.default_rng(0)
    for trial in range(200):
        episodes = []
        for _ in range(rng.integers(1, 5)):
            steps = []
            for _ in range(rng.integers(1, 8)):
                kind = rng.choice(["applied", "invalid", "no-op"], p=[0.6, 0.25, 0.15])
                previous = steps[-1][3] if steps else INITIAL
                if kind == "no-op":
                    steps.append((NO_OP, 0, False, previous))
                    break
                # Few distinct runtimes, so ties between graphs and between episodes happen.
                runtime = previous if kind == "invalid" else float(rng.integers(6, 14))
                steps.append((int(rng.integers(NUM_XFERS)), int(rng.integers(8)), kind == "invalid", runtime))
            episodes.append(steps)
        records = [_record(steps, resume_after=int(rng.integers(len(steps) + 1))) for steps in episodes]
        for steps, record in zip(episodes, records):
            applied, runtime, length = _brute_force_episode(steps)
            assert (record.applied_steps, record.best_runtime_ms, record.best_prefix_length) == (applied, runtime, length), trial
        # Fed in two batches with a checkpoint of the best in between, as a resumed trainer does.
        split = int(rng.integers(len(records) + 1))
        best = keep_best_prefix(None, records[:split])
        best = BestTrainingPrefix.from_state(json.loads(json.dumps(best.to_state()))) if best is not None else None
        best = keep_best_prefix(best, records[split:])
        expected = _brute_force_over_episodes(episodes)
        assert (None if best is None else (best.runtime_ms, best.steps)) == expected, trial


def test_a_bad_best_prefix_state_is_refused():
    assert BestTrainingPrefix.from_state(None) is None
    for bad in ({"runtime_ms": 1.0}, [1.0, []], {"runtime_ms": 1.0, "steps": [], "extra": 1}):
        with pytest.raises(ValueError, match=r"best training prefix: expected \{'runtime_ms': float, 'steps'"):
            BestTrainingPrefix.from_state(bad)
