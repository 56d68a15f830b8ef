"""Multiple-comparison corrections over a family of p-values: Holm (family-wise error) and Benjamini–Hochberg (FDR)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from pipeline.stats import _validate

METHODS = ("holm", "bh")


def holm(p_values) -> np.ndarray:
    """Holm step-down adjusted p-values, shape ``(m,)`` in the order given.

    With p sorted ascending, adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)); the running max
    keeps the adjusted values in the same order as the raw ones, so rejecting a hypothesis rejects all smaller.
    """
    p = _p_values(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), shape ``(m,)`` in the order given (scipy underneath)."""
    return np.asarray(stats.false_discovery_control(_p_values(p_values), method="bh"), dtype=np.float64)


def correct(p_values, method: str = "holm", alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Adjust a family of ``m`` p-values, shape ``(m,)``; returns ``(adjusted, reject)``, both shape ``(m,)``.

    ``reject[i]`` is ``adjusted[i] <= alpha``: Holm controls the family-wise error rate at ``alpha``,
    BH the false discovery rate.
    """
    alpha = _validate.open_unit(alpha, "alpha")
    if method == "holm":
        adjusted = holm(p_values)
    elif method == "bh":
        adjusted = benjamini_hochberg(p_values)
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return adjusted, adjusted <= alpha


def _p_values(p_values) -> np.ndarray:
    p = _validate.vector(p_values, "p_values", min_len=1)
    outside = (p < 0) | (p > 1)
    if outside.any():
        raise ValueError(f"p_values must lie in [0, 1], got {p[outside][:5].tolist()}")
    return p
