"""Aggregates over tasks: hand-computed cases, scipy, and the values rliable 1.2.0 gives on the same arrays.

The rliable values were computed in a separate environment (rliable 1.2.0, arch 7.2.0, pandas 2.3.3: rliable does
not import with pandas 3) with::

    from rliable import library as rly, metrics
    metrics.aggregate_iqm(X); metrics.probability_of_improvement(X, Y)
    np.random.seed(0)  # rliable's stratified bootstrap draws from numpy's global generator
    rly.get_interval_estimates({"x": X}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=50000)
    rly.get_interval_estimates({"xy": [X, Y]}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]),
                               reps=20000)
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats.aggregate import (
    improvement_probability,
    iqm,
    performance_profile,
    signed_rank_over_tasks,
    stratified_bootstrap_interval,
)
from pipeline.stats.corrections import holm

# (n_seeds, n_tasks): 5 seeds of 3 tasks, for two methods.
X = np.array([[0.91, 0.85, 0.70], [0.93, 0.80, 0.72], [0.90, 0.88, 0.69], [0.95, 0.83, 0.74], [0.92, 0.86, 0.71]])
Y = np.array([[0.90, 0.86, 0.69], [0.92, 0.80, 0.70], [0.91, 0.84, 0.70], [0.93, 0.82, 0.73], [0.90, 0.85, 0.72]])
RLIABLE = {
    "iqm_x": 0.8322222222222222,
    "iqm_y": 0.8244444444444445,
    "poi": 0.6133333333333334,
    "iqm_ci_x": (0.8177777777777777, 0.8455555555555556),
    "poi_ci": (0.4066666666666667, 0.8066666666666666),
}


def test_iqm_is_the_25_percent_trimmed_mean_of_every_run_pooled() -> None:
    # 8 values: trim 2 from each end, the mean of the middle 4.
    assert iqm([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]]) == pytest.approx((3 + 4 + 10 + 20) / 4)
    assert iqm(X) == pytest.approx(RLIABLE["iqm_x"], abs=1e-12)
    assert iqm(Y) == pytest.approx(RLIABLE["iqm_y"], abs=1e-12)
    assert iqm(X) == pytest.approx(stats.trim_mean(X.ravel(), 0.25))


def test_iqm_reads_the_runs_a_task_has_and_weighs_every_task_the_same() -> None:
    ragged = np.array([[1.0, 10.0], [2.0, 20.0], [np.nan, 30.0], [np.nan, 40.0]])
    # Task 0's two runs count twice each, as if it had four: 1 1 2 2 10 20 30 40, trim 2 from each end.
    assert iqm(ragged) == pytest.approx((2 + 2 + 10 + 20) / 4)
    assert iqm(ragged) == pytest.approx(stats.trim_mean([1.0, 1.0, 2.0, 2.0, 10.0, 20.0, 30.0, 40.0], 0.25))
    # Counts 3 and 2: repeated 2 and 3 times to 6 each, 12 runs, trim 3 from each end.
    odd = np.array([[0.1, 5.0], [0.2, 6.0], [0.3, np.nan]])
    repeated = np.r_[np.repeat([0.1, 0.2, 0.3], 2), np.repeat([5.0, 6.0], 3)]
    assert iqm(odd) == pytest.approx(stats.trim_mean(repeated, 0.25))


def test_a_method_stopped_early_on_one_task_keeps_the_iqm_of_the_same_scores() -> None:
    # A sequential study gives the method 20 runs on its good task and 5 on its bad one. Pooled as they are, the
    # good task would fill the middle half; each task weighing the same, the IQM is that of 20 runs on each.
    rng = np.random.default_rng(0)
    good, bad = rng.normal(0.9, 0.01, 20), rng.normal(0.6, 0.01, 20)
    full = np.c_[good, bad]
    stopped = np.c_[good, np.r_[bad[:5], np.full(15, np.nan)]]
    assert iqm(np.c_[good, np.repeat(bad[:5], 4)]) == pytest.approx(iqm(stopped))
    assert abs(iqm(stopped) - iqm(full)) < 0.02
    assert stats.trim_mean(np.r_[good, bad[:5]], 0.25) > iqm(full) + 0.1  # what pooling as-is would report


def test_improvement_probability_counts_pairs_within_each_task_and_ties_half() -> None:
    # Task 0: x (2, 1) against y (1, 3): pairs (2>1), (2<3), (1=1: half), (1<3): 1.5 / 4. Task 1: x always above.
    x = np.array([[2.0, 5.0], [1.0, 6.0]])
    y = np.array([[1.0, 0.0], [3.0, 1.0]])
    assert improvement_probability(x, y) == pytest.approx((1.5 / 4 + 1.0) / 2)
    assert improvement_probability(X, Y) == pytest.approx(RLIABLE["poi"], abs=1e-12)
    assert improvement_probability(X, X) == pytest.approx(0.5)
    # The Mann-Whitney U of scipy, task by task.
    u = [stats.mannwhitneyu(X[:, t], Y[:, t], alternative="greater").statistic / 25 for t in range(3)]
    assert improvement_probability(X, Y) == pytest.approx(np.mean(u))


def test_the_stratified_bootstrap_agrees_with_rliable_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(0)
    low, high = stratified_bootstrap_interval(iqm, [X], rng, reps=20000)
    assert low == pytest.approx(RLIABLE["iqm_ci_x"][0], abs=0.002)
    assert high == pytest.approx(RLIABLE["iqm_ci_x"][1], abs=0.002)
    low, high = stratified_bootstrap_interval(improvement_probability, [X, Y], np.random.default_rng(1), reps=5000)
    assert low == pytest.approx(RLIABLE["poi_ci"][0], abs=0.03)
    assert high == pytest.approx(RLIABLE["poi_ci"][1], abs=0.03)


def test_the_stratified_bootstrap_resamples_runs_within_each_task_only() -> None:
    # Each task's runs are constant: any resample within tasks gives the same statistic, so the interval is a point.
    # Resampling across tasks (or tasks themselves) would move it.
    constant = np.array([[0.5, 0.9], [0.5, 0.9], [0.5, 0.9]])
    low, high = stratified_bootstrap_interval(
        lambda s: float(np.nanmean(s[:, 1])), [constant], np.random.default_rng(2)
    )
    assert low == high == pytest.approx(0.9)
    # The same generator state gives the same interval.
    first = stratified_bootstrap_interval(iqm, [X], np.random.default_rng(7), reps=200)
    assert first == stratified_bootstrap_interval(iqm, [X], np.random.default_rng(7), reps=200)


def test_performance_profile_is_the_fraction_of_tasks_within_tau_of_the_best() -> None:
    means = np.array([[0.90, 0.88, 0.80], [0.70, 0.75, 0.74], [0.50, 0.50, 0.49]])  # (n_tasks, n_methods)
    profile = performance_profile(means, [0.0, 0.01, 0.05])
    # Gaps to the best per task: method 0 (0, 0.05, 0), method 1 (0.02, 0, 0), method 2 (0.10, 0.01, 0.01); a gap of
    # exactly τ counts as within it, whatever the last bit of 0.75 - 0.74 says.
    np.testing.assert_allclose(profile, [[2 / 3, 2 / 3, 0.0], [2 / 3, 2 / 3, 2 / 3], [1.0, 1.0, 2 / 3]])


def test_signed_rank_over_tasks_is_scipys_wilcoxon_with_holm() -> None:
    # 6 tasks, 3 methods; the reference is column 0.
    means = np.array(
        [
            [0.90, 0.92, 0.89],
            [0.80, 0.83, 0.81],
            [0.70, 0.71, 0.69],
            [0.60, 0.64, 0.61],
            [0.85, 0.86, 0.84],
            [0.5, 0.52, 0.5],
        ]
    )
    p, adjusted = signed_rank_over_tasks(means, 0)
    assert np.isnan(p[0]) and np.isnan(adjusted[0])
    expected = [stats.wilcoxon(means[:, j] - means[:, 0], zero_method="zsplit").pvalue for j in (1, 2)]
    np.testing.assert_allclose(p[1:], expected)
    np.testing.assert_allclose(adjusted[1:], holm(expected))
    # Method 1 wins every task: the exact two-sided p is 2 / 2^6, the smallest 6 tasks allow.
    assert p[1] == pytest.approx(2 / 2**6)


def test_five_tasks_cannot_make_a_signed_rank_test_significant_at_5_percent() -> None:
    # The suite's honest limit: even a method better on all 5 tasks gets p = 0.0625.
    means = np.column_stack([np.linspace(0.5, 0.9, 5), np.linspace(0.5, 0.9, 5) + 0.05])
    p, _ = signed_rank_over_tasks(means, 0)
    assert p[1] == pytest.approx(0.0625)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: iqm([1.0, 2.0]), "shape (n_seeds, n_tasks"),
        (lambda: iqm([[1.0, np.nan], [2.0, np.nan]]), "no run on task 1"),
        (lambda: iqm([[1.0, np.inf]]), "infinite"),
        (lambda: improvement_probability(X, Y[:, :2]), "same tasks"),
        (lambda: stratified_bootstrap_interval(iqm, [X], 0), "numpy Generator"),
        (lambda: stratified_bootstrap_interval(iqm, [X], np.random.default_rng(0), reps=1), "reps"),
        (lambda: performance_profile([[0.5, 0.6]], [-0.1]), "taus"),
    ],
)
def test_bad_input_is_refused_with_the_reason(call, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()
