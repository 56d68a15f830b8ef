"""Bootstrap interval: seeded, reproducible, equal to the direct scipy call, degenerate cases handled."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import bootstrap_mean_ci

X = np.array([0.91, 0.93, 0.92, 0.95, 0.90, 0.94])


def test_same_seed_same_interval_and_equal_to_scipy():
    a = bootstrap_mean_ci(X, rng=7, n_resamples=999)
    b = bootstrap_mean_ci(X, rng=np.random.default_rng(7), n_resamples=999)
    assert (a.low, a.high) == (b.low, b.high)
    direct = stats.bootstrap((X,), np.mean, n_resamples=999, method="BCa", rng=np.random.default_rng(7))
    assert (a.low, a.high) == (direct.confidence_interval.low, direct.confidence_interval.high)
    assert a.mean == pytest.approx(X.mean())
    assert a.low < a.mean < a.high
    assert a.notes == () and a.method == "BCa" and a.n_resamples == 999


def test_different_seeds_resample_differently():
    a = bootstrap_mean_ci(X, rng=1, n_resamples=999, method="percentile")
    b = bootstrap_mean_ci(X, rng=2, n_resamples=999, method="percentile")
    assert (a.low, a.high) != (b.low, b.high)


def test_percentile_interval_of_two_values_by_hand():
    # Resampling [0, 1] gives means 0, 0.5, 1 with chances 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles
    # of 9999 resampled means are 0 and 1.
    res = bootstrap_mean_ci([0.0, 1.0], rng=0, method="percentile")
    assert (res.low, res.high) == (0.0, 1.0)


def test_rng_keyword_raises_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bootstrap_mean_ci(X, rng=0, n_resamples=99)


@pytest.mark.parametrize("x, why", [([0.9], "a single value"), ([0.9, 0.9, 0.9], "all values equal")])
def test_no_spread_gives_mean_mean_with_a_note(x, why):
    res = bootstrap_mean_ci(x, rng=0)
    assert res.low == res.high == res.mean == pytest.approx(0.9)
    assert res.notes and why in res.notes[0]
