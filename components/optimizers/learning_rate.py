"""Learning rates of the optimizers: a constant, or a schedule over the optimizer's own update count.

Holds:
  PolynomialDecay: lr(t) = (initial - end) * (1 - min(t, decay_steps) / decay_steps) ** power + end,
    t the updates made before this one; tf.keras.optimizers.schedules.PolynomialDecay with
    cycle=False. The dissertation (section 4.3.3, "World-model accuracy") decays the world model's
    rate with power 2 over 2000 steps.
  learning_rate_from_spec: a YAML `learning_rate` (a number, or a mapping with `type: polynomial`)
    as a float or a PolynomialDecay, each bad value a SpecError at its key path.

In YAML:
  learning_rate: 2.5e-3
  learning_rate: {type: polynomial, initial: 1.0e-3, end: 1.0e-5, decay_steps: 2000, power: 2}
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Union

from rlgraph_xflow.core import SpecError
from rlgraph_xflow.core.registry import did_you_mean
from rlgraph_xflow.core.validation import check_choice, check_positive_int, is_number

SCHEDULE_TYPES = ("polynomial",)
POLYNOMIAL_REQUIRED_KEYS = ("initial", "end", "decay_steps")
POLYNOMIAL_KEYS = (*POLYNOMIAL_REQUIRED_KEYS, "power")
_FORMS = "a finite number > 0, or a schedule {type: polynomial, initial: ..., end: ..., decay_steps: ..., power: ...}"


@dataclasses.dataclass(frozen=True)
class PolynomialDecay:
    """A rate falling from `initial` to `end` over `decay_steps` updates along (1 - t / decay_steps) ** power, then `end`.

    Args:
        initial: the rate of the first update.
        end: the rate from update decay_steps + 1 on (0 <= end <= initial).
        decay_steps: updates the decay lasts.
        power: the polynomial's degree (1: linear).
    """

    initial: float
    end: float
    decay_steps: int
    power: float = 1.0

    def rate(self, updates_done):
        """The rate of the next update after `updates_done` (an int tensor) updates, as a float64 tensor."""
        import tensorflow as tf

        # float64, as Adam's bias corrections: 2000 steps and rates near 1e-5
        # are far inside its precision.
        done = tf.minimum(tf.cast(updates_done, tf.float64), float(self.decay_steps))
        remaining = 1.0 - done / float(self.decay_steps)
        return (self.initial - self.end) * tf.pow(remaining, self.power) + self.end


def _finite_positive(value: Any, key_path: str) -> float:
    if not is_number(value) or not 0 < value < math.inf:
        raise SpecError(key_path, f"expected a finite number > 0, got {value!r}")
    return float(value)


def learning_rate_from_spec(spec: Any, key_path: str) -> Union[float, PolynomialDecay]:
    """A YAML learning rate: a number stays a constant float, a `type: polynomial` mapping becomes a PolynomialDecay.

    Args:
        spec: the value of `learning_rate` in an optimizer spec.
        key_path: where it sits ("agent.world_model_optimizer.learning_rate"), for errors.

    Raises:
        SpecError: at key_path (or the offending key below it) for a rate <= 0, an unknown schedule
            type or key, a missing key, a negative value, decay_steps < 1 or end > initial.
    """
    if is_number(spec):
        if not 0 < spec < math.inf:
            raise SpecError(key_path, f"expected {_FORMS}; got {spec!r}")
        return float(spec)
    if not isinstance(spec, Mapping):
        raise SpecError(key_path, f"expected {_FORMS}; got {type(spec).__name__} {spec!r}")
    if "type" not in spec:
        raise SpecError(f"{key_path}.type", f"a learning-rate schedule needs a 'type' (one of: {', '.join(SCHEDULE_TYPES)}); "
                                            f"got keys {sorted(spec)}")
    check_choice(spec["type"], f"{key_path}.type", SCHEDULE_TYPES, "learning-rate schedule")
    for key in spec:
        if key != "type" and key not in POLYNOMIAL_KEYS:
            raise SpecError(f"{key_path}.{key}", f"unknown key{did_you_mean(key, POLYNOMIAL_KEYS)}; "
                                                 f"a polynomial schedule takes: {', '.join(POLYNOMIAL_KEYS)}")
    missing = [key for key in POLYNOMIAL_REQUIRED_KEYS if key not in spec]
    if missing:
        raise SpecError(f"{key_path}.{missing[0]}", f"missing: a polynomial schedule needs {', '.join(POLYNOMIAL_REQUIRED_KEYS)} "
                                                    f"(and optionally power, default 1); got keys {sorted(spec)}")
    initial = _finite_positive(spec["initial"], f"{key_path}.initial")
    end = spec["end"]
    if not is_number(end) or not 0 <= end < math.inf:
        raise SpecError(f"{key_path}.end", f"expected a finite number >= 0, got {end!r}")
    if end > initial:
        raise SpecError(f"{key_path}.end", f"expected at most initial ({initial!r}): the schedule decays from initial to end; "
                                           f"got {end!r}")
    decay_steps = check_positive_int(spec["decay_steps"], f"{key_path}.decay_steps")
    power = _finite_positive(spec.get("power", 1.0), f"{key_path}.power")
    return PolynomialDecay(initial=initial, end=float(end), decay_steps=decay_steps, power=power)
