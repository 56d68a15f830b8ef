"""Average ranks, Friedman and the Nemenyi critical difference, by hand and against scipy and published tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from pipeline.stats import average_ranks, critical_difference, friedman_test, nemenyi_q


def test_average_ranks_with_ties_by_hand():
    scores = [
        [0.9, 0.8, 0.7],  # ranks 1, 2, 3
        [0.8, 0.8, 0.9],  # the 0.8s tie for places 2 and 3: 2.5, 2.5, 1
        [0.7, 0.9, 0.6],  # ranks 2, 1, 3
    ]
    np.testing.assert_allclose(average_ranks(scores), [5.5 / 3, 5.5 / 3, 7 / 3])


def test_friedman_by_hand_without_ties():
    # 4 seeds, the same order every time: rank means 1, 2, 3.
    # chi2 = 12 N / (k (k+1)) * (sum R_j^2 - k (k+1)^2 / 4) = 12*4/12 * (14 - 12) = 8; p = chi2_2.sf(8) = e^-4
    scores = np.array([[0.9, 0.8, 0.7], [0.95, 0.85, 0.6], [0.7, 0.6, 0.5], [0.8, 0.75, 0.74]])
    res = friedman_test(scores)
    assert res.statistic == pytest.approx(8.0)
    assert res.p_value == pytest.approx(math.exp(-4))
    assert (res.n_seeds, res.n_methods) == (4, 3)


def test_friedman_with_ties_matches_scipy():
    scores = np.array([[0.9, 0.8, 0.7, 0.8], [0.8, 0.8, 0.9, 0.7], [0.7, 0.9, 0.6, 0.6], [0.9, 0.7, 0.8, 0.5]])
    res = friedman_test(scores)
    direct = stats.friedmanchisquare(*scores.T)
    assert (res.statistic, res.p_value) == pytest.approx((direct.statistic, direct.pvalue))


def test_friedman_all_tied_gives_p_one():
    res = friedman_test(np.full((3, 4), 0.5))
    assert (res.statistic, res.p_value) == (0.0, 1.0)
    assert "ties" in res.notes[0]


# Demšar (2006), Table 5(a): q_0.05 for k = 2..10. These were rounded from 3-4 digit studentized range
# tables; the exact quantiles differ from them by up to 7e-4 (k=3: 2.3437, k=7: 2.9483), hence abs=1e-3.
DEMSAR_Q05 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]


@pytest.mark.parametrize("k, table", list(zip(range(2, 11), DEMSAR_Q05, strict=True)))
def test_nemenyi_q_matches_published_table(k, table):
    q = nemenyi_q(k, alpha=0.05)
    assert q == pytest.approx(table, abs=1e-3)
    # Independent check: the range of k standard normals has cdf k * ∫ φ(z) (Φ(z + r) − Φ(z))^(k−1) dz.
    r = q * math.sqrt(2)
    cdf = (
        k
        * integrate.quad(
            lambda z: stats.norm.pdf(z) * (stats.norm.cdf(z + r) - stats.norm.cdf(z)) ** (k - 1), -np.inf, np.inf
        )[0]
    )
    assert cdf == pytest.approx(0.95, abs=1e-8)


def test_nemenyi_q_for_two_methods_is_the_normal_quantile():
    assert nemenyi_q(2, alpha=0.05) == pytest.approx(stats.norm.ppf(0.975), abs=1e-9)


def test_critical_difference_demsar_example():
    # Demšar (2006): 4 classifiers on 14 data sets, CD = 2.569 * sqrt(4 * 5 / (6 * 14)) = 1.25
    assert critical_difference(4, 14) == pytest.approx(2.569 * math.sqrt(20 / 84), abs=1e-4)
    assert critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
