"""The smallest reachable Wilcoxon p-value and the design warnings built on it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import design_warnings, minimum_wilcoxon_p


@pytest.mark.parametrize("n", [3, 5, 8])
def test_minimum_wilcoxon_p_matches_scipy_exact(n):
    d = np.arange(1.0, n + 1)  # all differences positive: the most extreme sign pattern
    assert minimum_wilcoxon_p(n) == pytest.approx(stats.wilcoxon(d, method="exact").pvalue)
    assert minimum_wilcoxon_p(n, "greater") == pytest.approx(
        stats.wilcoxon(d, alternative="greater", method="exact").pvalue
    )


def test_minimum_wilcoxon_p_by_hand():
    assert minimum_wilcoxon_p(5) == 0.0625  # 2 / 2**5
    assert minimum_wilcoxon_p(5, "less") == 0.03125
    assert minimum_wilcoxon_p(1) == 1.0  # 2 / 2 = 1, the cap


def test_five_seeds_cannot_reject_two_sided():
    assert design_warnings(5, alpha=0.05) == [
        "with 5 paired seeds a two-sided Wilcoxon test cannot go below p = 0.0625, so it can never reject at α = 0.05"
    ]
    assert design_warnings(5, alpha=0.05, alternative="greater") == []  # 1/32 < 0.05
    assert design_warnings(6, alpha=0.05) == []


def test_holm_family_raises_the_floor():
    (warning,) = design_warnings(6, alpha=0.05, n_comparisons=3)
    assert "3 × 0.03125 = 0.09375" in warning and "never reject" in warning


def test_two_seeds_warn_about_the_t_test_too():
    warnings = design_warnings(2)
    assert len(warnings) == 2
    assert "1 degree of freedom" in warnings[1] and "12.71" in warnings[1]


def test_one_seed_has_no_paired_test():
    (warning,) = design_warnings(1)
    assert "no paired test" in warning
