"""Power of the paired t-test, computed exactly from the noncentral t distribution, and the seeds it needs."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import stats

from pipeline.stats import _validate


def paired_t_power(n: int, d_z: float, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Probability that a paired t-test on ``n`` seeds rejects at ``alpha`` when the true effect is ``d_z``.

    The t statistic follows a noncentral t with df = n - 1 and noncentrality d_z * sqrt(n).
    ``alternative="greater"`` expects d_z > 0, ``"less"`` d_z < 0 (the other sign gives power below alpha).
    """
    n = _validate.integer(n, "n", minimum=2)
    d_z = _effect(d_z)
    alpha = _validate.open_unit(alpha, "alpha")
    _validate.alternative(alternative)
    df, nc = n - 1, d_z * np.sqrt(n)
    # Lower tails as upper tails of the mirrored distribution, P(T_nc < -c) = P(T_-nc > c): scipy's nct.cdf
    # returns NaN far in the tail (e.g. df=1150, nc=17), nct.sf does not.
    if alternative == "two-sided":
        crit = stats.t.ppf(1.0 - alpha / 2.0, df)
        return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))
    crit = stats.t.ppf(1.0 - alpha, df)
    return float(stats.nct.sf(crit, df, nc if alternative == "greater" else -nc))


def seeds_for_power(
    d_z: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    max_n: int = 100_000,
) -> int | None:
    """Smallest number of paired seeds n >= 2 with ``paired_t_power(n, d_z, alpha, alternative) >= power``.

    Returns None when no n up to ``max_n`` gets there: d_z == 0, d_z of the sign the one-sided
    ``alternative`` cannot detect, or an effect too small for the cap.
    """
    d_z = _effect(d_z)
    target = _validate.open_unit(power, "power")
    max_n = _validate.integer(max_n, "max_n", minimum=2)
    _validate.alternative(alternative)
    if d_z == 0.0:
        return None

    def enough(n: int) -> bool:
        return paired_t_power(n, d_z, alpha, alternative) >= target

    if not enough(max_n):
        return None
    # Power grows with n (more df and more noncentrality), so bisect for the first n that is enough.
    lo, hi = 1, max_n  # invariant: lo is not enough (or below 2), hi is enough
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _effect(d_z) -> float:
    if isinstance(d_z, bool) or not isinstance(d_z, numbers.Real) or not np.isfinite(d_z):
        raise ValueError(f"d_z must be a finite number, got d_z={d_z!r}")
    return float(d_z)
