"""Deterministic variable initializers, seeded per component."""
from __future__ import annotations

import zlib

import numpy as np


def component_seed(scope: str, seed: int) -> int:
    """A seed that differs per component scope but is stable across runs."""
    return (zlib.crc32(scope.encode()) ^ (int(seed) * 0x9E3779B1)) & 0xFFFFFFFF


def glorot_uniform(seed: int):
    """Glorot/Xavier uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    def initialize(shape, dtype):
        fan_in, fan_out = (shape[-2], shape[-1]) if len(shape) >= 2 else (shape[0], shape[0])
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return np.random.default_rng(seed).uniform(-limit, limit, size=shape).astype(dtype)

    return initialize
