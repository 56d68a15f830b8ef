"""Checks on a study design before running it: can the planned number of seeds ever give significance?"""

from __future__ import annotations

from scipy import stats

from pipeline.stats import _validate


def minimum_wilcoxon_p(n: int, alternative: str = "two-sided") -> float:
    """Smallest p-value an exact Wilcoxon signed-rank test can reach with ``n`` pairs.

    Reached when all n differences share one sign: that is 1 of the 2**n equally likely sign patterns
    under the null, so p = 1 / 2**n one-sided, and twice that (capped at 1) two-sided.
    """
    n = _validate.integer(n, "n", minimum=1)
    _validate.alternative(alternative)
    one_sided = 0.5**n
    return one_sided if alternative != "two-sided" else min(1.0, 2.0 * one_sided)


def design_warnings(
    n_seeds: int, alpha: float = 0.05, alternative: str = "two-sided", *, n_comparisons: int = 1
) -> list[str]:
    """Plain-English warnings about a design with ``n_seeds`` paired seeds per method; empty when none apply.

    ``n_comparisons`` is the family size for Holm's correction (e.g. methods compared with the reference):
    Holm multiplies the smallest p-value by it, so the Wilcoxon floor must sit below alpha / n_comparisons.
    """
    n = _validate.integer(n_seeds, "n_seeds", minimum=1)
    alpha = _validate.open_unit(alpha, "alpha")
    _validate.alternative(alternative)
    m = _validate.integer(n_comparisons, "n_comparisons", minimum=1)
    if n < 2:
        return [
            f"with {n} seed there is no paired test at all: the paired t-test and Wilcoxon need at least 2 paired seeds"
        ]

    warnings = []
    sides = "two-sided" if alternative == "two-sided" else "one-sided"
    floor = minimum_wilcoxon_p(n, alternative)
    if floor > alpha:
        warnings.append(
            f"with {n} paired seeds a {sides} Wilcoxon test cannot go below p = {floor:g}, "
            f"so it can never reject at α = {alpha:g}"
        )
    elif m > 1 and min(1.0, m * floor) > alpha:
        warnings.append(
            f"with {n} paired seeds and Holm's correction over {m} comparisons, a {sides} Wilcoxon test's "
            f"smallest adjusted p-value is {m} × {floor:g} = {min(1.0, m * floor):g}, so it can never reject at "
            f"α = {alpha:g}"
        )
    if n < 3:
        tail = alpha / 2 if alternative == "two-sided" else alpha
        crit = stats.t.ppf(1 - tail, n - 1)
        warnings.append(
            f"with {n} paired seeds the paired t-test has {n - 1} degree of freedom: it needs |t| > {crit:.2f} "
            "to reject "
            f"at α = {alpha:g} ({sides}), so only a huge and very consistent effect can show; use at least 3 seeds"
        )
    return warnings
