"""Paired comparison of one method against the reference on the same seeds: t-test, Wilcoxon, t interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from pipeline.stats import _validate
from pipeline.stats.intervals import t_bounds

# scipy's method="auto" runs an exhaustive sign-flip permutation test up to this many pairs when there are
# ties or zeros (2**13 < its 9999 resamples), and the normal approximation beyond; mirrored here to label it.
_AUTO_PERMUTATION_MAX_N = 13


@dataclass(frozen=True)
class PairedComparison:
    """One method against the reference over ``n`` shared seeds.

    ``mean_difference`` and its interval are for ``method - reference``; stds are sample stds (ddof=1).
    For a one-sided ``alternative`` the interval is one-sided (one end infinite), as scipy gives it.
    ``wilcoxon_method`` is ``"exact"``, or scipy's automatic choice when zero differences or tied
    magnitudes make the exact table wrong: ``"permutation"`` (n <= 13) or ``"asymptotic"``; ``"none"``
    when every difference is zero. ``notes`` says why any value was not what scipy alone would give.
    """

    n: int
    method_mean: float
    method_std: float
    reference_mean: float
    reference_std: float
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence_level: float
    alternative: str
    t_statistic: float
    t_p_value: float
    wilcoxon_p_value: float
    wilcoxon_method: str
    notes: tuple[str, ...] = ()


def paired_comparison(
    method, reference, *, alternative: str = "two-sided", confidence_level: float = 0.95
) -> PairedComparison:
    """Compare ``method`` with ``reference``, both of shape ``(n_seeds,)`` with the same seed in each position.

    ``alternative="greater"`` tests whether ``method`` is higher (e.g. more accurate) than ``reference``.
    Raises ValueError on mismatched lengths, fewer than 2 pairs, NaNs, or a bad alternative/level.
    """
    m, r = _validate.paired(method, reference, min_len=2)
    _validate.alternative(alternative)
    confidence_level = _validate.open_unit(confidence_level, "confidence_level")
    d = m - r
    summary = {
        "n": int(d.size),
        "method_mean": float(m.mean()),
        "method_std": float(m.std(ddof=1)),
        "reference_mean": float(r.mean()),
        "reference_std": float(r.std(ddof=1)),
        "mean_difference": float(d.mean()),
        "confidence_level": confidence_level,
        "alternative": alternative,
    }
    if _validate.all_equal(d):
        return _constant_difference(float(d[0]), d, alternative, summary)

    t = stats.ttest_rel(m, r, alternative=alternative)
    low, high = t_bounds(d, confidence_level, alternative)  # scipy's interval; the function the coverage test runs
    w_p, w_method = _wilcoxon(d, alternative)
    return PairedComparison(
        **summary,
        ci_low=float(low),
        ci_high=float(high),
        t_statistic=float(t.statistic),
        t_p_value=float(t.pvalue),
        wilcoxon_p_value=w_p,
        wilcoxon_method=w_method,
    )


def _wilcoxon(d: np.ndarray, alternative: str) -> tuple[float, str]:
    has_zeros = bool(np.any(d == 0))
    has_ties = np.unique(np.abs(d)).size < d.size
    if not (has_zeros or has_ties):
        return float(stats.wilcoxon(d, alternative=alternative, method="exact").pvalue), "exact"
    label = "permutation" if d.size <= _AUTO_PERMUTATION_MAX_N else "asymptotic"
    return float(stats.wilcoxon(d, alternative=alternative, method="auto").pvalue), label


def _constant_difference(c: float, d: np.ndarray, alternative: str, summary: dict) -> PairedComparison:
    """Every seed has the same difference ``c``: the t statistic is 0/0 (c = 0) or ±inf, so set it by hand."""
    low = -np.inf if alternative == "less" else c
    high = np.inf if alternative == "greater" else c
    if c == 0.0:
        # No seed moved at all: no evidence either way; scipy would return NaN (and Wilcoxon has no pairs left).
        note = "every paired difference is exactly zero: both p-values set to 1.0, t statistic undefined (NaN)"
        return PairedComparison(
            **summary,
            ci_low=low,
            ci_high=high,
            t_statistic=float("nan"),
            t_p_value=1.0,
            wilcoxon_p_value=1.0,
            wilcoxon_method="none",
            notes=(note,),
        )
    # Zero spread around a non-zero mean: t is infinite, so p is 0 in the direction of c and 1 against it.
    agrees = alternative == "two-sided" or (alternative == "greater") == (c > 0)
    note = (
        f"every paired difference equals {c:g}: the t statistic is infinite and its p-value set to "
        f"{0.0 if agrees else 1.0}, and the interval's finite end(s) sit at {c:g}"
    )
    w_p, w_method = _wilcoxon(d, alternative)
    return PairedComparison(
        **summary,
        ci_low=low,
        ci_high=high,
        t_statistic=float(np.copysign(np.inf, c)),
        t_p_value=0.0 if agrees else 1.0,
        wilcoxon_p_value=w_p,
        wilcoxon_method=w_method,
        notes=(note,),
    )
