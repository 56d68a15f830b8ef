"""Independent random streams derived from a trial's seed.

Each purpose (the split, the label noise, the shift noise) draws from its own stream, so changing
one setting never moves the others: the same seed gives the same split with or without label noise.
"""

from __future__ import annotations

import operator

import numpy as np

_STREAMS = {"split": 0, "label_noise": 1, "shift": 2}


def check_seed(seed: int) -> int:
    """Return ``seed`` as an int, or raise ValueError: seeds are non-negative integers (not bools)."""
    if isinstance(seed, bool):
        raise ValueError(f"seed must be a non-negative integer, got seed={seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise ValueError(f"seed must be a non-negative integer, got seed={seed!r}") from None
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got seed={seed}")
    return seed


def stream(seed: int, purpose: str) -> np.random.Generator:
    """A fresh generator for ``purpose`` (one of "split", "label_noise", "shift") under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), _STREAMS[purpose]]))
