"""Comparisons across all methods at once: Friedman test, average ranks, Nemenyi critical difference.

Scores have shape ``(n_seeds, n_methods)`` and higher is better (accuracy): rank 1 is the best method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from pipeline.stats import _validate


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman chi-square over ``n_seeds`` blocks and ``n_methods`` treatments."""

    statistic: float
    p_value: float
    n_seeds: int
    n_methods: int
    notes: tuple[str, ...] = ()


def average_ranks(scores) -> np.ndarray:
    """Mean rank of each method over seeds, shape ``(n_methods,)``; 1 = highest score, ties share the average."""
    s = _validate.scores_matrix(scores, min_seeds=1, min_methods=1)
    # rankdata ranks ascending, so rank the negated scores to give the highest score rank 1.
    return stats.rankdata(-s, method="average", axis=1).mean(axis=0)


def friedman_test(scores) -> FriedmanResult:
    """Friedman test that all methods rank alike, scores of shape ``(n_seeds, n_methods)``, n_methods >= 3."""
    s = _validate.scores_matrix(scores, min_seeds=2, min_methods=1)
    n_seeds, k = s.shape
    if k < 3:
        raise ValueError(
            f"the Friedman test needs at least 3 methods, got {k}; compare two methods with the paired tests "
            "(pipeline.stats.paired_comparison)"
        )
    if all(_validate.all_equal(row) for row in s):
        # Every seed ties every method: the statistic is 0/0 in scipy; there is no evidence of a difference.
        note = "every seed ties all methods: statistic set to 0.0 and p-value to 1.0"
        return FriedmanResult(0.0, 1.0, n_seeds, k, notes=(note,))
    res = stats.friedmanchisquare(*s.T)
    return FriedmanResult(float(res.statistic), float(res.pvalue), n_seeds, k)


def nemenyi_q(n_methods: int, alpha: float = 0.05) -> float:
    """Nemenyi's q_alpha for ``n_methods`` methods: the studentized range quantile (df = inf) over sqrt(2)."""
    k = _validate.integer(n_methods, "n_methods", minimum=2)
    alpha = _validate.open_unit(alpha, "alpha")
    return float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf) / np.sqrt(2.0))


def critical_difference(n_methods: int, n_seeds: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference CD = q_alpha * sqrt(k (k + 1) / (6 N)) between average ranks.

    Two methods whose average ranks (over N = ``n_seeds``) differ by more than CD differ at level ``alpha``.
    """
    n = _validate.integer(n_seeds, "n_seeds", minimum=1)
    k = _validate.integer(n_methods, "n_methods", minimum=2)
    return float(nemenyi_q(k, alpha) * np.sqrt(k * (k + 1) / (6.0 * n)))
