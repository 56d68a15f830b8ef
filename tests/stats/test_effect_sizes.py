"""Effect sizes by hand, with scipy's t statistics as the cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import hedges_g, paired_dz, probability_of_improvement

METHOD = [2.0, 4.0, 6.0, 9.0, 7.0]
REFERENCE = [1.0, 2.0, 3.0, 5.0, 2.0]


def test_paired_dz_by_hand():
    # diff = [1, 2, 3, 4, 5]: mean 3, sd sqrt(10 / 4) = sqrt(2.5), d_z = 3 / 1.5811 = 1.8974
    assert paired_dz(METHOD, REFERENCE) == pytest.approx(3 / math.sqrt(2.5))
    # d_z is the paired t statistic over sqrt(n)
    assert paired_dz(METHOD, REFERENCE) == pytest.approx(stats.ttest_rel(METHOD, REFERENCE).statistic / math.sqrt(5))
    assert paired_dz(REFERENCE, METHOD) == pytest.approx(-3 / math.sqrt(2.5))


def test_paired_dz_zero_spread_by_sign():
    assert paired_dz([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]) == math.inf
    assert paired_dz([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == -math.inf
    assert paired_dz([0.9, 0.8], [0.9, 0.8]) == 0.0


def test_hedges_g_equal_groups_by_hand():
    # means 5.6 and 2.6, variances 7.3 and 2.3; pooled variance (4 * 7.3 + 4 * 2.3) / 8 = 4.8;
    # d = 3 / sqrt(4.8) = 1.3693; J = 1 - 3 / (4 * 10 - 9) = 28/31; g = 1.2368
    assert hedges_g(METHOD, REFERENCE) == pytest.approx(28 / 31 * 3 / math.sqrt(4.8))
    assert hedges_g(METHOD, REFERENCE) == pytest.approx(1.23679, abs=1e-5)
    # Cohen's d is the pooled two-sample t times sqrt(1/n1 + 1/n2)
    t = stats.ttest_ind(METHOD, REFERENCE, equal_var=True).statistic
    assert hedges_g(METHOD, REFERENCE) == pytest.approx(28 / 31 * t * math.sqrt(2 / 5))


def test_hedges_g_unequal_groups_by_hand():
    # [1, 2, 3]: mean 2, var 1; [0, 0, 2, 2]: mean 1, var 4/3; pooled (2 * 1 + 3 * 4/3) / 5 = 1.2;
    # d = 1 / sqrt(1.2); J = 1 - 3 / (4 * 7 - 9) = 16/19
    a, b = [1.0, 2.0, 3.0], [0.0, 0.0, 2.0, 2.0]
    assert hedges_g(a, b) == pytest.approx(16 / 19 / math.sqrt(1.2))
    t = stats.ttest_ind(a, b, equal_var=True).statistic
    assert hedges_g(a, b) == pytest.approx(16 / 19 * t * math.sqrt(1 / 3 + 1 / 4))


def test_hedges_g_zero_spread():
    assert hedges_g([2.0, 2.0], [1.0, 1.0]) == math.inf
    assert hedges_g([1.0, 1.0], [1.0, 1.0]) == 0.0


def test_probability_of_improvement_counts_ties_as_half():
    # seed by seed: tie (1/2), win, loss, win -> (0.5 + 1 + 0 + 1) / 4 = 0.625
    assert probability_of_improvement([1, 2, 3, 4], [1, 1, 4, 3]) == pytest.approx(0.625)
    assert probability_of_improvement([1, 1, 4, 3], [1, 2, 3, 4]) == pytest.approx(0.375)
    assert probability_of_improvement(np.ones(3), np.ones(3)) == 0.5
