"""Every seed the project derives, in one place.

A trial's seed (or a search's) is the only randomness a user sets; everything random is drawn from a generator
derived here from it and a *purpose*, so that each use has its own stream: changing one setting never moves the
others (the same seed gives the same split with or without label noise, the same shuffling with or without
augmentation). Nothing here touches a global generator.

Each derivation is numpy's ``SeedSequence`` over ``[seed, purpose]``; the purpose is a small integer or the CRC-32
of a name. The search seed is the one exception, a SHA-256 of its parts, kept as it is so that existing study
folders resume with the same suggestions.
"""

from __future__ import annotations

import hashlib
import operator
import zlib

import numpy as np

_DATA_STREAMS = {"split": 0, "label_noise": 1, "shift": 2}


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


def _sequence(seed: int, purpose: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, purpose])


def data_stream(seed: int, purpose: str) -> np.random.Generator:
    """A fresh numpy generator for one use of a dataset's randomness: "split", "label_noise" or "shift"."""
    return np.random.default_rng(_sequence(check_seed(seed), _DATA_STREAMS[purpose]))


def bootstrap_stream(seed: int, purpose: str) -> np.random.Generator:
    """A numpy generator for one bootstrap of a report ("iqm:<method>:...", "improvement:<pair>:...")."""
    return np.random.default_rng(_sequence(check_seed(seed), zlib.crc32(f"bootstrap:{purpose}".encode())))


def derive_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed (for a torch generator) for one use of a trial's randomness: "shuffle",
    "augment", "dropout", "mpsam", ..."""
    state = _sequence(seed, zlib.crc32(purpose.encode())).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def search_seed(tuning_seed: int, search: int, method: str) -> int:
    """The seed of one Optuna search: the study's tuning seed, the search's repeat and the method, mixed."""
    digest = hashlib.sha256(f"{tuning_seed}/{search}/{method}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def suggestion_seed(search_seed: int, index: int) -> int:
    """The seed of the sampler that suggests trial ``index`` of a search (a 32-bit integer)."""
    return int(_sequence(search_seed, index).generate_state(1)[0])
