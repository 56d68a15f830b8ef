"""The nightly decision: did a method get worse than its accepted baseline by more than a margin δ?

Per method, paired by seed, on scores oriented so that higher is better (a loss is negated): the one-sided
paired t-test of H0 "change >= -δ" against H1 "change < -δ" (the method is worse than its baseline by more
than δ), with Holm's correction across the methods tested. A method regresses when that corrected p-value
is at most α. The opposite one-sided test (H1 "change > -δ", classical non-inferiority) is reported too: a
method that neither regressed nor was shown non-inferior is ``inconclusive``, which says the nightly has too
few seeds or too small a margin to vouch for it, but does not fail the night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.stats import _validate
from pipeline.stats.corrections import holm
from pipeline.stats.paired import paired_comparison


@dataclass(frozen=True)
class RegressionTest:
    """One method, current run against baseline over ``n`` shared seeds. Means are in the metric's own units;
    ``change`` is oriented (positive = better), its interval two-sided at ``confidence_level``."""

    method: str
    n: int
    current_mean: float
    baseline_mean: float
    change: float
    change_ci_low: float
    change_ci_high: float
    confidence_level: float
    p_worse: float  # H1: worse than the baseline by more than the margin (one-sided t)
    p_worse_holm: float
    p_noninferior: float  # H1: not worse by more than the margin (one-sided t)
    regressed: bool
    noninferior: bool
    notes: tuple[str, ...] = ()

    @property
    def decision(self) -> str:
        if self.regressed:
            return "regressed"
        return "non-inferior" if self.noninferior else "inconclusive"


def regression_tests(
    current,
    baseline,
    methods: list[str],
    *,
    margin: float,
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> list[RegressionTest]:
    """``current`` and ``baseline``: shape ``(n_seeds, n_methods)``, the same seed in each row and the method of
    ``methods[j]`` in column ``j``; NaN where a run has no score (each method uses the seeds both runs scored).

    Raises ValueError for mismatched shapes, a negative margin, or a method with fewer than 2 shared seeds.
    """
    cur = np.asarray(current, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    if cur.ndim != 2 or cur.shape != base.shape or cur.shape[1] != len(methods):
        raise ValueError(
            f"current and baseline must both be (n_seeds, {len(methods)}) arrays, got {cur.shape} and {base.shape}"
        )
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be finite and >= 0, got {margin}")
    alpha = _validate.open_unit(alpha, "alpha")
    sign = 1.0 if higher_is_better else -1.0
    raw = []
    for j, method in enumerate(methods):
        both = np.isfinite(cur[:, j]) & np.isfinite(base[:, j])
        if both.sum() < 2:
            raise ValueError(f"{method}: {int(both.sum())} seed(s) scored in both runs; a paired test needs 2")
        c, b = cur[both, j], base[both, j]
        oriented_c, oriented_b = sign * c, sign * b
        worse = paired_comparison(oriented_c + margin, oriented_b, alternative="less")
        noninferior = paired_comparison(
            oriented_c + margin, oriented_b, alternative="greater", confidence_level=1 - alpha
        )
        change = paired_comparison(oriented_c, oriented_b, confidence_level=1 - alpha)
        raw.append((method, c, b, worse, noninferior, change))
    adjusted = holm([w.t_p_value for _, _, _, w, _, _ in raw])
    return [
        RegressionTest(
            method=method,
            n=int(c.size),
            current_mean=float(c.mean()),
            baseline_mean=float(b.mean()),
            change=change.mean_difference,
            change_ci_low=change.ci_low,
            change_ci_high=change.ci_high,
            confidence_level=1 - alpha,
            p_worse=worse.t_p_value,
            p_worse_holm=float(p_holm),
            p_noninferior=noninferior.t_p_value,
            regressed=bool(p_holm <= alpha),
            noninferior=bool(noninferior.t_p_value <= alpha),
            notes=worse.notes,
        )
        for (method, c, b, worse, noninferior, change), p_holm in zip(raw, adjusted, strict=True)
    ]
