"""Tests of rlgraph_xflow.core.validation: the shared spec and argument checks."""
from __future__ import annotations

import math
import numbers
import re

import numpy as np
import pytest

from rlgraph_xflow.core.registry import SpecError
from rlgraph_xflow.core.validation import (
    check_bool,
    check_choice,
    check_int_at_least,
    check_non_negative_number,
    check_number,
    check_number_in_range,
    check_positive_int,
    check_positive_number,
    check_probability,
    is_instance_not_bool,
    is_int,
    is_number,
)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_predicates_refuse_bools(value):
    assert not is_int(value) and not is_int(value, allow_numpy=True)
    assert not is_number(value) and not is_number(value, allow_numpy=True)
    assert not is_instance_not_bool(value, numbers.Integral)


def test_predicates_take_numpy_scalars_only_when_allowed():
    assert is_int(3) and not is_int(np.int64(3)) and is_int(np.int64(3), allow_numpy=True)
    assert is_number(2.5) and is_number(np.float64(2.5))  # np.float64 is a float
    assert not is_number(np.float32(2.5)) and is_number(np.float32(2.5), allow_numpy=True)
    assert not is_int(2.0) and not is_number("2")


def test_int_checks_keep_their_wording():
    assert check_int_at_least(0, "a.rounds", 0) == 0
    assert check_int_at_least(np.int32(4), "a.size", 1, allow_numpy=True) == 4
    with pytest.raises(SpecError, match=r"^a\.size: expected an int >= 1, got True$"):
        check_int_at_least(True, "a.size", 1)
    with pytest.raises(SpecError, match=re.escape(f"a.size: expected an int >= 1, got {np.int32(4)!r}")):
        check_int_at_least(np.int32(4), "a.size", 1)
    assert check_positive_int(2, "head.num_xfers") == 2
    with pytest.raises(SpecError, match=r"^head\.num_xfers: expected a positive int, got 0$"):
        check_positive_int(0, "head.num_xfers")


def test_number_checks_keep_their_wording_and_refuse_nan():
    assert check_number(3, "reward.alpha") == 3.0 and isinstance(check_number(3, "reward.alpha"), float)
    with pytest.raises(SpecError, match=r"^reward\.alpha: expected a number, got '3'$"):
        check_number("3", "reward.alpha")
    assert check_number_in_range(None, "loss.value_clip", 0.0, allow_none=True) is None
    with pytest.raises(SpecError, match=r"^loss\.clip: expected a number in \[0\.0, 1\.0\], got 2$"):
        check_number_in_range(2, "loss.clip", 0.0, 1.0)
    with pytest.raises(SpecError, match=r"^gae\.gamma: expected a number in \[0, 1\], got nan$"):
        check_number_in_range(math.nan, "gae.gamma", 0, 1)
    with pytest.raises(SpecError, match=r"^loss\.value_clip: expected a number in \[0\.0, inf\] or null, got -1$"):
        check_number_in_range(-1, "loss.value_clip", 0.0, allow_none=True)
    for check, message in ((check_positive_number, "a number > 0"), (check_non_negative_number, "a number >= 0"),
                           (check_probability, "a probability in [0, 1]")):
        with pytest.raises(SpecError, match=re.escape(f"x: expected {message}, got nan")):
            check(math.nan, "x")
    assert check_non_negative_number(math.inf, "x") == math.inf
    with pytest.raises(SpecError, match=r"^x: expected a finite number >= 0, got inf$"):
        check_non_negative_number(math.inf, "x", finite=True)
    assert check_probability(1, "x") == 1.0 and check_positive_number(0.5, "x") == 0.5


def test_bool_and_choice_checks():
    assert check_bool(False, "encoder.layer_norm") is False
    with pytest.raises(SpecError, match=r"^encoder\.layer_norm: expected true or false, got 1$"):
        check_bool(1, "encoder.layer_norm")
    assert check_choice("measured", "env.cost_model", ("measured", "analytic"), "cost model") == "measured"
    with pytest.raises(SpecError, match=r"^env\.cost_model: unknown cost model 'analytc' \(did you mean 'analytic'\?\); "
                                        r"expected one of: measured, analytic$"):
        check_choice("analytc", "env.cost_model", ("measured", "analytic"), "cost model")
    with pytest.raises(SpecError, match=r"unknown cost model 3; expected one of"):
        check_choice(3, "env.cost_model", ("measured", "analytic"), "cost model")
