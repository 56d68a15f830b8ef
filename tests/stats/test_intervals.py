"""The t-interval of a mean: hand-worked values cross-checked with scipy, the vectorised form, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import mean_t_interval, paired_comparison, t_bounds
from pipeline.stats.comparison import ComparisonSettings, compare_methods


def test_two_sided_interval_by_hand_and_equal_to_scipy():
    # [1, 2, 3]: mean 2, std 1, se 1/sqrt(3); t_{0.975, 2} = 4.302653, so the half width is 2.484138.
    res = mean_t_interval([1.0, 2.0, 3.0])
    assert (res.mean, res.n, res.method, res.confidence_level) == (2.0, 3, "t", 0.95)
    assert (res.low, res.high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    direct = stats.ttest_1samp([1.0, 2.0, 3.0], 0.0).confidence_interval()
    assert (res.low, res.high) == pytest.approx((direct.low, direct.high), rel=1e-12)
    assert res.notes == ()


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_one_sided_bounds_are_scipys(alternative):
    x = [0.91, 0.93, 0.92, 0.95, 0.90]
    low, high = t_bounds(x, 0.9, alternative)
    direct = stats.ttest_1samp(x, 0.0, alternative=alternative).confidence_interval(0.9)
    assert (float(low), float(high)) == pytest.approx((direct.low, direct.high), rel=1e-12)
    # one-sided at 90%: the finite end is mean -/+ t_{0.9, 4} * se
    finite = float(low) if alternative == "greater" else float(high)
    se = np.std(x, ddof=1) / math.sqrt(5)
    assert finite == pytest.approx(np.mean(x) + (-1 if alternative == "greater" else 1) * stats.t.ppf(0.9, 4) * se)


def test_vectorised_bounds_equal_one_column_at_a_time():
    x = np.random.default_rng(0).normal(size=(4, 7))
    low, high = t_bounds(x)
    assert low.shape == high.shape == (7,)
    for j in range(7):
        one = mean_t_interval(x[:, j])
        assert (low[j], high[j]) == pytest.approx((one.low, one.high), rel=1e-12)


def test_all_equal_values_give_mean_mean_with_a_note():
    res = mean_t_interval([0.9, 0.9, 0.9])
    assert res.low == res.high == res.mean == pytest.approx(0.9)
    assert "all values equal" in res.notes[0]


def test_the_report_uses_these_intervals():
    # The per-method summary and the paired difference are the functions test_interval_coverage simulates.
    rng = np.random.default_rng(1)
    s = rng.normal(0.9, 0.01, size=(5, 3))
    c = compare_methods(s, ["ref", "a", "b"], "ref", ComparisonSettings())
    for j, summary in enumerate(c.summaries):
        assert summary.ci == mean_t_interval(s[:, j])
    p = paired_comparison(s[:, 1], s[:, 0], alternative="greater", confidence_level=0.9)
    assert (p.ci_low, p.ci_high) == tuple(float(b) for b in t_bounds(s[:, 1] - s[:, 0], 0.9, "greater"))


def test_one_seed_has_a_mean_but_no_interval():
    s = np.array([[0.9, 0.8], [np.nan, 0.7]])
    ref = compare_methods(s, ["ref", "a"], "a", ComparisonSettings()).summaries[0]
    assert (ref.n, ref.mean, ref.std, ref.ci) == (1, 0.9, None, None)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mean_t_interval([0.9]), r"x needs at least 2 values, got 1"),
        (lambda: mean_t_interval([0.9, np.nan]), r"x contains NaN"),
        (lambda: mean_t_interval([0.9, 0.8], confidence_level=95), r"confidence_level must lie strictly between"),
        (lambda: t_bounds(np.zeros((1, 3))), r"scores needs at least 2 seeds"),
        (lambda: t_bounds(np.zeros((2, 2, 2))), r"must be 2-D"),
        (lambda: t_bounds([0.9, 0.8], alternative="better"), r"alternative must be one of"),
    ],
)
def test_bad_input_is_a_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()
