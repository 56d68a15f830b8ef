"""Coverage of every interval the report prints, simulated at the seeds a study has: n = 3, 5 and 10.

The intervals, and the function each comes from:

- each method's mean (results table, ``accuracy.png``, ``compute.png``): ``mean_t_interval``;
- each paired mean difference against the reference (table, verdict, ``differences.png``) and of LETS against
  the tuned method it wraps: ``paired_comparison``, whose interval is ``t_bounds`` of the differences, two-sided
  or, under ``alternative: better``, one-sided either way.

d_z, Hedges' g and P(better) are printed as point estimates, without an interval, so there is none to check.

Each interval is drawn for R = 4000 seeded Gaussian samples and must cover the true value within three Monte
Carlo standard errors of its nominal 95%: s.e. = sqrt(0.95 · 0.05 / R) ≈ 0.0034. The same check fails on the
BCa bootstrap the report used before, so it is known to be able to fail. A skewed case is measured for
information only: there the t-interval is not exact, and nothing in the report claims that it is.

The seeds are fixed, so each check is deterministic. At 3 s.e. an exact interval still misses the band for about
one seed in 370; after a change of seed, a miss by a hair is that, and a miss by a mile (the bootstrap's) is not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.stats import bootstrap_mean_ci, mean_t_interval, t_bounds

R = 4000
NOMINAL = 0.95
SEEDS = (3, 5, 10)
MU, SIGMA = 0.91, 0.011  # about the quick study's SAM: mean 0.913, std 0.011 over 3 seeds


def within_three_se(coverage: float, reps: int = R) -> bool:
    return abs(coverage - NOMINAL) <= 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / reps)


def test_the_check_itself():
    # 3 s.e. at R = 4000 is 0.0103: 0.94 passes, 0.935 does not; with fewer replications the band widens.
    assert within_three_se(0.94) and within_three_se(0.96) and not within_three_se(0.935)
    assert not within_three_se(0.93, reps=4000) and within_three_se(0.93, reps=1000)


@pytest.mark.parametrize("n", SEEDS)
def test_each_methods_mean_interval_covers_at_its_level(n):
    scores = np.random.default_rng(n).normal(MU, SIGMA, size=(R, n))
    intervals = [mean_t_interval(x) for x in scores]  # one call per sample, as compare_methods makes them
    coverage = np.mean([ci.low <= MU <= ci.high for ci in intervals])
    # measured: 0.943 at n = 3, 0.955 at 5, 0.949 at 10
    assert within_three_se(coverage), f"n = {n}: coverage {coverage:.4f}"


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("n", SEEDS)
def test_each_paired_difference_interval_covers_at_its_level(n, alternative):
    # Paired scores: a shared per-seed effect (initialisation, data order) that the difference cancels.
    rng = np.random.default_rng(1000 + n)
    seed_effect = rng.normal(0.0, 0.01, size=(n, R))
    reference = 0.90 + seed_effect + rng.normal(0.0, 0.005, size=(n, R))
    method = 0.91 + seed_effect + rng.normal(0.0, 0.005, size=(n, R))
    low, high = t_bounds(method - reference, NOMINAL, alternative)  # what paired_comparison computes per column
    coverage = float(np.mean((low <= 0.01) & (0.01 <= high)))
    assert within_three_se(coverage), f"n = {n}, {alternative}: coverage {coverage:.4f}"


@pytest.mark.parametrize("n, below", [(3, 0.78), (5, 0.88), (10, 0.93)])
def test_the_bca_bootstrap_the_report_used_fails_the_check(n, below):
    # 1000 samples and 999 resamples keep this fast; 4000 and 9999, the old default, measured 0.716, 0.836 and
    # 0.902 at n = 3, 5 and 10: far below 0.95 at every n a study has, and worst where a study usually sits.
    rng = np.random.default_rng(200 + n)
    scores = rng.normal(MU, SIGMA, size=(1000, n))
    intervals = [bootstrap_mean_ci(x, rng=rng, n_resamples=999) for x in scores]
    coverage = np.mean([ci.low <= MU <= ci.high for ci in intervals])
    assert not within_three_se(coverage, reps=1000)
    assert coverage < below, f"n = {n}: coverage {coverage:.4f}"


@pytest.mark.parametrize("n", SEEDS)
def test_skewed_scores_for_information(n, record_property):
    # Exponential scores (skewness 2), far more skewed than accuracies over seeds usually are. Measured: two-sided
    # 0.879, 0.877, 0.906 at n = 3, 5, 10; one-sided, the lower bound covers about 0.99 and the upper 0.84-0.87.
    x = np.random.default_rng(300 + n).exponential(1.0, size=(n, R))
    low, high = t_bounds(x)
    coverage = float(np.mean((low <= 1.0) & (1.0 <= high)))
    record_property(f"skewed_t_coverage_n{n}", coverage)
    assert 0.85 < coverage < NOMINAL
