"""Checks of spec values and arguments, written once for every layer.

A YAML `true` loads as a Python bool, and bool is a subclass of int:
isinstance(True, int) holds and True >= 1. No count, size, weight or
probability is meant as true or false, so every check here refuses bools
(numpy's np.bool_ too) where it accepts numbers.

Functions in this file:
  is_instance_not_bool(value, types): isinstance(value, types), bools refused.
  is_int, is_number: its two common cases (numpy scalars with allow_numpy).
  check_int_at_least: an int >= minimum ("expected an int >= {minimum}");
    minimum 1 for a positive int, 0 for a non-negative one.
  check_positive_int: an int >= 1, in the wording of component specs
    ("expected a positive int").
  check_number: an int or a float ("expected a number").
  check_number_in_range: low <= value <= high ("expected a number in
    [{low}, {high}]", "... or null" when None is allowed).
  check_positive_number: value > 0 ("expected a number > 0").
  check_non_negative_number: value >= 0 ("expected a number >= 0", or "a
    finite number >= 0" when infinity is refused too).
  check_probability: 0 <= value <= 1 ("expected a probability in [0, 1]").
  check_bool: True or False ("expected true or false").
  check_choice: one of a few names ("unknown {what} {value!r} (did you mean
    ...?); expected one of: ...").

Every check_* function returns the value (ints as int, numbers as float) or
raises SpecError at `key_path` with "<what it expected>, got <value!r>", so
YAML errors read alike whichever layer checks them. Arguments that are not
spec values raise their own error types and wording; their callers use the
is_* predicates. No number check passes NaN.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from rlgraph_xflow.core.registry import SpecError, did_you_mean

_BOOL_TYPES = (bool, np.bool_)


def is_instance_not_bool(value: Any, types) -> bool:
    """isinstance(value, types), but False for True and False (and numpy's bools)."""
    return isinstance(value, types) and not isinstance(value, _BOOL_TYPES)


def is_int(value: Any, allow_numpy: bool = False) -> bool:
    """Whether value is an int (or, with allow_numpy, a numpy integer) and not a bool."""
    return is_instance_not_bool(value, (int, np.integer) if allow_numpy else int)


def is_number(value: Any, allow_numpy: bool = False) -> bool:
    """Whether value is an int or a float (or, with allow_numpy, a numpy number) and not a bool."""
    return is_instance_not_bool(value, (int, float, np.integer, np.floating) if allow_numpy else (int, float))


def check_int_at_least(value: Any, key_path: str, minimum: int, allow_numpy: bool = False) -> int:
    """`value` as an int when it is an int >= minimum; SpecError at key_path otherwise."""
    if not is_int(value, allow_numpy) or value < minimum:
        raise SpecError(key_path, f"expected an int >= {minimum}, got {value!r}")
    return int(value)


def check_positive_int(value: Any, key_path: str) -> int:
    """`value` when it is an int >= 1; SpecError at key_path ("expected a positive int") otherwise."""
    if not is_int(value) or value < 1:
        raise SpecError(key_path, f"expected a positive int, got {value!r}")
    return value


def check_number(value: Any, key_path: str) -> float:
    """`value` as a float when it is an int or a float; SpecError at key_path otherwise."""
    if not is_number(value):
        raise SpecError(key_path, f"expected a number, got {value!r}")
    return float(value)


def check_number_in_range(value: Any, key_path: str, low: float, high: float = math.inf,
                          allow_none: bool = False) -> Optional[float]:
    """`value` as a float when low <= value <= high (None passes with allow_none); SpecError at key_path otherwise.

    The message shows low and high as given: pass 0 and 1 for "[0, 1]", 0.0
    and 1.0 for "[0.0, 1.0]".
    """
    if value is None and allow_none:
        return None
    if not is_number(value) or not low <= value <= high:
        raise SpecError(key_path, f"expected a number in [{low}, {high}]{' or null' if allow_none else ''}, got {value!r}")
    return float(value)


def check_positive_number(value: Any, key_path: str) -> float:
    """`value` as a float when it is a number > 0; SpecError at key_path otherwise."""
    if not is_number(value) or not value > 0:
        raise SpecError(key_path, f"expected a number > 0, got {value!r}")
    return float(value)


def check_non_negative_number(value: Any, key_path: str, finite: bool = False) -> float:
    """`value` as a float when it is a number >= 0 (and, with finite, not infinity); SpecError at key_path otherwise."""
    if finite:
        if not is_number(value) or not 0 <= value < math.inf:
            raise SpecError(key_path, f"expected a finite number >= 0, got {value!r}")
    elif not is_number(value) or not value >= 0:
        raise SpecError(key_path, f"expected a number >= 0, got {value!r}")
    return float(value)


def check_probability(value: Any, key_path: str) -> float:
    """`value` as a float when it is a number in [0, 1]; SpecError at key_path otherwise."""
    if not is_number(value) or not 0 <= value <= 1:
        raise SpecError(key_path, f"expected a probability in [0, 1], got {value!r}")
    return float(value)


def check_bool(value: Any, key_path: str) -> bool:
    """`value` when it is True or False (a YAML true/false); SpecError at key_path otherwise."""
    if not isinstance(value, bool):
        raise SpecError(key_path, f"expected true or false, got {value!r}")
    return value


def check_choice(value: Any, key_path: str, choices: Sequence[str], what: str) -> str:
    """`value` when it is one of the names in `choices`; SpecError at key_path naming the closest one otherwise.

    Args:
        what: what the names are, for the message ("cost model").
    """
    if not isinstance(value, str) or value not in choices:
        raise SpecError(key_path, f"unknown {what} {value!r}{did_you_mean(value, choices)}; expected one of: {', '.join(choices)}")
    return value
