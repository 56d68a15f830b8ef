"""paired_comparison against hand-worked values, each cross-checked with the direct scipy call."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import paired_comparison

# differences method - reference = [1, 2, 3, 4, 5]: distinct, no zeros, so the exact Wilcoxon applies.
METHOD = [2.0, 4.0, 6.0, 9.0, 7.0]
REFERENCE = [1.0, 2.0, 3.0, 5.0, 2.0]


def test_summaries_t_test_and_interval_by_hand():
    res = paired_comparison(METHOD, REFERENCE)
    assert res.n == 5
    # method: mean 5.6, squared deviations 12.96 + 2.56 + 0.16 + 11.56 + 1.96 = 29.2, / 4 = 7.3
    assert res.method_mean == pytest.approx(5.6)
    assert res.method_std == pytest.approx(math.sqrt(7.3))
    # reference: mean 2.6, squared deviations 2.56 + 0.36 + 0.16 + 5.76 + 0.36 = 9.2, / 4 = 2.3
    assert res.reference_mean == pytest.approx(2.6)
    assert res.reference_std == pytest.approx(math.sqrt(2.3))
    # diff mean 3, sd sqrt(2.5), se sqrt(2.5 / 5) = sqrt(0.5), t = 3 / sqrt(0.5) = 3 sqrt(2), df 4
    assert res.mean_difference == pytest.approx(3.0)
    assert res.t_statistic == pytest.approx(3 * math.sqrt(2))
    assert res.t_p_value == pytest.approx(2 * stats.t.sf(3 * math.sqrt(2), 4))
    half_width = stats.t.ppf(0.975, 4) * math.sqrt(0.5)  # 2.7764 * 0.7071 = 1.9632
    assert (res.ci_low, res.ci_high) == pytest.approx((3 - half_width, 3 + half_width))
    assert res.ci_low == pytest.approx(1.0368, abs=1e-4)
    direct = stats.ttest_rel(METHOD, REFERENCE)
    assert res.t_p_value == pytest.approx(direct.pvalue, rel=1e-12)
    assert res.notes == ()


def test_exact_wilcoxon_all_positive_differences():
    # All 5 differences positive: W- = 0, reached by 1 of 2**5 sign patterns.
    res = paired_comparison(METHOD, REFERENCE)
    assert res.wilcoxon_method == "exact"
    assert res.wilcoxon_p_value == pytest.approx(2 / 32)
    assert paired_comparison(METHOD, REFERENCE, alternative="greater").wilcoxon_p_value == pytest.approx(1 / 32)
    assert paired_comparison(METHOD, REFERENCE, alternative="less").wilcoxon_p_value == pytest.approx(1.0)


def test_exact_wilcoxon_mixed_signs_by_hand():
    # d = [1, -2, 3, 4, 5]: W- = 2. Subsets of ranks {1..5} summing to <= 2: {}, {1}, {2}, so P(W- <= 2) = 3/32.
    m = np.array([1.0, -2.0, 3.0, 4.0, 5.0])
    r = np.zeros(5)
    two = paired_comparison(m, r)
    assert two.wilcoxon_p_value == pytest.approx(6 / 32)
    assert paired_comparison(m, r, alternative="greater").wilcoxon_p_value == pytest.approx(3 / 32)
    assert two.wilcoxon_p_value == pytest.approx(stats.wilcoxon(m - r, method="exact").pvalue)


def test_one_sided_t_test_matches_scipy_and_has_an_open_interval():
    res = paired_comparison(METHOD, REFERENCE, alternative="greater", confidence_level=0.9)
    direct = stats.ttest_rel(METHOD, REFERENCE, alternative="greater")
    assert res.t_p_value == pytest.approx(direct.pvalue)
    assert res.t_p_value == pytest.approx(stats.t.sf(3 * math.sqrt(2), 4))
    assert res.ci_low == pytest.approx(3 - stats.t.ppf(0.9, 4) * math.sqrt(0.5))
    assert res.ci_high == math.inf
    assert res.alternative == "greater" and res.confidence_level == 0.9


def test_ties_fall_back_to_scipy_permutation_and_say_so():
    # d = [1, 2, 2, 3, -1]: |d| ranks 1.5, 3.5, 3.5, 5, 1.5; W- = 1.5. Sign patterns with W- <= 1.5:
    # none negative, or just one of the two 1.5s: 3 of 32, two-sided 6/32.
    d = np.array([1.0, 2.0, 2.0, 3.0, -1.0])
    res = paired_comparison(d, np.zeros(5))
    assert res.wilcoxon_method == "permutation"
    assert res.wilcoxon_p_value == pytest.approx(6 / 32)
    assert res.wilcoxon_p_value == pytest.approx(stats.wilcoxon(d, method=stats.PermutationMethod()).pvalue)


def test_zero_differences_on_many_seeds_fall_back_to_asymptotic():
    rng = np.random.default_rng(3)
    d = np.round(rng.normal(0.5, 1.0, size=20), 1)
    d[0] = 0.0
    res = paired_comparison(d, np.zeros(20))
    assert res.wilcoxon_method == "asymptotic"
    assert res.wilcoxon_p_value == pytest.approx(stats.wilcoxon(d, method="asymptotic").pvalue)
    assert res.wilcoxon_p_value == pytest.approx(stats.wilcoxon(d, method="auto").pvalue)


def test_all_differences_zero_gives_p_one_with_a_note():
    x = [0.91, 0.93, 0.92]
    res = paired_comparison(x, x)
    assert res.t_p_value == 1.0 and res.wilcoxon_p_value == 1.0
    assert math.isnan(res.t_statistic)
    assert (res.mean_difference, res.ci_low, res.ci_high) == (0.0, 0.0, 0.0)
    assert res.wilcoxon_method == "none"
    assert len(res.notes) == 1 and "exactly zero" in res.notes[0]


def test_constant_nonzero_difference_gives_infinite_t():
    res = paired_comparison([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert res.t_statistic == math.inf and res.t_p_value == 0.0
    assert (res.ci_low, res.ci_high) == (1.0, 1.0)
    # Wilcoxon still runs: 3 equal positive differences, W- = 0 is 1 of 8 sign patterns, two-sided 2/8.
    assert res.wilcoxon_p_value == pytest.approx(0.25)
    against = paired_comparison([2.0, 3.0, 4.0], [1.0, 2.0, 3.0], alternative="less")
    assert against.t_p_value == 1.0 and against.ci_low == -math.inf and against.ci_high == 1.0
    assert "equals 1" in res.notes[0]


def test_result_is_frozen():
    res = paired_comparison(METHOD, REFERENCE)
    with pytest.raises(AttributeError):
        res.n = 3  # type: ignore[misc]
