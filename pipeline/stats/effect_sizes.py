"""Effect sizes of a method against the reference: paired d_z, Hedges' g, and the probability of improvement.

A zero standard deviation makes a standardised effect x/0; rather than NaN we return +inf or -inf by the
sign of the mean difference, and 0.0 when the difference is zero too (no effect, no spread).
"""

from __future__ import annotations

import numpy as np

from pipeline.stats import _validate


def paired_dz(method, reference) -> float:
    """Cohen's d_z = mean(diff) / std(diff, ddof=1), diff = method - reference, both of shape ``(n_seeds,)``.

    The effect size the paired t-test (and :func:`pipeline.stats.seeds_for_power`) works with; n >= 2.
    Constant differences give +inf, -inf or 0.0 (see the module docstring).
    """
    m, r = _validate.paired(method, reference, min_len=2)
    d = m - r
    if _validate.all_equal(d):
        return _signed_infinity(float(d[0]))
    return float(d.mean() / d.std(ddof=1))


def hedges_g(method, reference) -> float:
    """Hedges' g of two groups, shapes ``(n1,)`` and ``(n2,)`` with n1, n2 >= 2 (the pairing is not used).

    g = J * (mean1 - mean2) / s_pooled, s_pooled^2 = ((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2) with
    ddof=1 stds, and J = 1 - 3 / (4 (n1 + n2) - 9) removing Cohen's d's upward bias in small samples.
    Zero pooled spread gives +inf, -inf or 0.0 (see the module docstring).
    """
    a = _validate.vector(method, "method", min_len=2)
    b = _validate.vector(reference, "reference", min_len=2)
    n1, n2 = a.size, b.size
    diff = float(a.mean() - b.mean())
    if _validate.all_equal(a) and _validate.all_equal(b):
        return _signed_infinity(diff)
    pooled = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    correction = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    return float(correction * diff / pooled)


def probability_of_improvement(method, reference) -> float:
    """Fraction of seeds on which ``method`` beats ``reference`` (ties count 1/2); shapes ``(n_seeds,)``.

    A paired estimate of P(method > reference): 0.5 means neither wins more often. n >= 1.
    """
    m, r = _validate.paired(method, reference, min_len=1)
    return float(np.mean((m > r) + 0.5 * (m == r)))


def _signed_infinity(mean_difference: float) -> float:
    return float(np.sign(mean_difference) * np.inf) if mean_difference != 0 else 0.0
