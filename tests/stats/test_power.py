"""Paired t-test power from the noncentral t, and the seeds it takes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import paired_t_power, seeds_for_power


def test_medium_effect_needs_34_seeds_two_sided():
    # Known value: d_z = 0.5, α = 0.05 two-sided, power 0.8 -> n = 34 (G*Power, one-sample/paired t: actual
    # power 0.8078; R pwr.t.test(d = 0.5, power = 0.8, type = "paired") gives n = 33.4, rounded up 34).
    assert seeds_for_power(0.5) == 34
    assert paired_t_power(34, 0.5) == pytest.approx(0.8078, abs=1e-4)
    assert paired_t_power(33, 0.5) < 0.8


def test_other_known_sample_sizes():
    # Cohen's large and small effects (G*Power: 15 and 199), and the one-sided medium effect (27).
    assert seeds_for_power(0.8) == 15
    assert seeds_for_power(0.2) == 199
    assert seeds_for_power(0.5, alternative="greater") == 27
    assert seeds_for_power(-0.5, alternative="less") == 27
    assert seeds_for_power(-0.5) == 34


def test_power_matches_a_simulation():
    # 20000 simulated paired studies with n = 34 and true d_z = 0.5; standard error of the rate is ~0.003.
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.5, 1.0, size=(20000, 34))
    rate = np.mean(stats.ttest_1samp(diffs, 0.0, axis=1).pvalue < 0.05)
    assert rate == pytest.approx(paired_t_power(34, 0.5), abs=0.015)


def test_power_under_the_null_is_alpha():
    assert paired_t_power(10, 0.0) == pytest.approx(0.05, abs=1e-12)
    assert paired_t_power(10, 0.0, alternative="greater") == pytest.approx(0.05, abs=1e-12)


def test_power_far_in_the_tail_is_finite():
    # scipy's nct.cdf returns NaN here (df = 1150, noncentrality 17); the lower tail must still be ~0.
    assert paired_t_power(1151, 0.5) == pytest.approx(1.0)


def test_unreachable_effects_give_none():
    assert seeds_for_power(0.0) is None
    assert seeds_for_power(-0.5, alternative="greater") is None
    assert seeds_for_power(0.01, max_n=1000) is None  # needs ~78500 seeds


def test_a_huge_effect_needs_few_seeds():
    # d_z = 10: n = 2 has df = 1 and critical t 12.7 (power 0.73); n = 3 is enough.
    assert paired_t_power(2, 10.0) < 0.8
    assert seeds_for_power(10.0) == 3
