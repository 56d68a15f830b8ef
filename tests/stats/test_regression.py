"""The nightly decision's statistics: one-sided paired tests against a margin, Holm across methods."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats.regression import regression_tests

BASE = np.array([0.80, 0.82, 0.78, 0.81, 0.79])


def test_a_drop_far_beyond_the_margin_regresses_and_a_small_one_does_not() -> None:
    noise = np.array([0.004, -0.003, 0.001, -0.002, 0.000])
    current = np.column_stack([BASE - 0.10 + noise, BASE - 0.005 + noise])
    baseline = np.column_stack([BASE, BASE])
    big, small = regression_tests(current, baseline, ["sam", "fsam"], margin=0.02, alpha=0.05)

    # By hand: H1 "current + δ < baseline" is scipy's one-sided paired t-test with alternative="less".
    p_big = stats.ttest_rel(current[:, 0] + 0.02, BASE, alternative="less").pvalue
    p_small = stats.ttest_rel(current[:, 1] + 0.02, BASE, alternative="less").pvalue
    assert big.p_worse == pytest.approx(p_big) and small.p_worse == pytest.approx(p_small)
    # Holm over two: the smaller p doubles, the larger stays (it is already above the doubled one).
    assert big.p_worse_holm == pytest.approx(min(1, 2 * p_big))
    assert small.p_worse_holm == pytest.approx(max(p_small, 2 * p_big))
    assert big.regressed and big.decision == "regressed"
    assert not small.regressed
    assert small.p_noninferior == pytest.approx(
        stats.ttest_rel(current[:, 1] + 0.02, BASE, alternative="greater").pvalue
    )
    assert small.decision == "non-inferior"
    assert big.change == pytest.approx(-0.10 + noise.mean())
    assert big.current_mean == pytest.approx(current[:, 0].mean()) and big.baseline_mean == pytest.approx(BASE.mean())


def test_a_drop_within_the_margin_never_regresses_however_consistent() -> None:
    current = np.column_stack([BASE - 0.01])  # every seed exactly 0.01 worse: constant difference
    [test] = regression_tests(current, np.column_stack([BASE]), ["sam"], margin=0.02)
    assert not test.regressed and test.p_worse == 1.0 and test.noninferior
    [test] = regression_tests(current, np.column_stack([BASE]), ["sam"], margin=0.005)
    assert test.regressed and test.p_worse == 0.0  # constant, and beyond the margin


def test_an_identical_run_is_non_inferior_and_noise_without_seeds_is_inconclusive() -> None:
    [same] = regression_tests(BASE[:, None], BASE[:, None], ["sgd"], margin=0.01)
    assert same.change == 0.0 and not same.regressed and same.decision == "non-inferior"
    current = np.array([[0.70], [0.90]])
    [noisy] = regression_tests(current, np.array([[0.85], [0.75]]), ["sgd"], margin=0.01)
    assert noisy.decision == "inconclusive"


def test_losses_are_oriented_so_that_a_higher_loss_is_worse() -> None:
    loss = np.array([0.50, 0.52, 0.49, 0.51, 0.50])
    [test] = regression_tests((loss + 0.2)[:, None], loss[:, None], ["sam"], margin=0.05, higher_is_better=False)
    assert test.regressed and test.change == pytest.approx(-0.2)
    [test] = regression_tests((loss - 0.2)[:, None], loss[:, None], ["sam"], margin=0.05, higher_is_better=False)
    assert not test.regressed and test.change == pytest.approx(0.2)


def test_seeds_missing_in_either_run_are_left_out_of_the_pairs() -> None:
    current = np.array([[0.8], [np.nan], [0.7], [0.75]])
    baseline = np.array([[0.8], [0.9], [np.nan], [0.74]])
    [test] = regression_tests(current, baseline, ["sam"], margin=0.01)
    assert test.n == 2 and test.current_mean == pytest.approx(0.775)


@pytest.mark.parametrize(
    ("current", "baseline", "methods", "margin", "message"),
    [
        (np.ones((3, 2)), np.ones((3, 1)), ["a", "b"], 0.01, "arrays"),
        (np.ones((3, 1)), np.ones((3, 1)), ["a"], -0.01, "margin"),
        (np.array([[0.5], [np.nan]]), np.array([[0.5], [0.6]]), ["a"], 0.01, r"a: 1 seed\(s\) scored in both"),
    ],
)
def test_bad_input_is_named(current, baseline, methods, margin, message) -> None:
    with pytest.raises(ValueError, match=message):
        regression_tests(current, baseline, methods, margin=margin)
