"""Holm and Benjamini–Hochberg on worked examples."""

from __future__ import annotations

import numpy as np
from scipy import stats

from pipeline.stats import benjamini_hochberg, correct, holm

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_worked_example():
    # Sorted: 0.005, 0.01, 0.03, 0.04, times m - j + 1 = 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04.
    # Running max: 0.02, 0.03, 0.06, 0.06; back in the given order: [0.03, 0.06, 0.06, 0.02].
    adjusted, reject = correct(P, method="holm", alpha=0.05)
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert reject.tolist() == [True, False, False, True]


def test_holm_caps_at_one_and_keeps_order():
    # Sorted 0.2, 0.5, 0.9 times 3, 2, 1: 0.6, 1.0 (capped), 0.9 -> running max 0.6, 1.0, 1.0.
    np.testing.assert_allclose(holm([0.5, 0.2, 0.9]), [1.0, 0.6, 1.0])


def test_holm_single_p_value_is_unchanged():
    np.testing.assert_allclose(holm([0.03]), [0.03])


def test_bh_worked_example():
    # Sorted 0.005, 0.01, 0.03, 0.04 times m / i = 4, 2, 4/3, 1: 0.02, 0.02, 0.04, 0.04; running min from the
    # top changes nothing; back in the given order: [0.02, 0.04, 0.04, 0.02].
    adjusted, reject = correct(P, method="bh", alpha=0.03)
    np.testing.assert_allclose(adjusted, [0.02, 0.04, 0.04, 0.02])
    assert reject.tolist() == [True, False, False, True]
    np.testing.assert_allclose(benjamini_hochberg(P), stats.false_discovery_control(P, method="bh"))


def test_bh_and_holm_on_the_benjamini_hochberg_1995_example():
    # The 15 p-values of the worked example in Benjamini & Hochberg (1995): at q = 0.05, BH rejects the 4 smallest
    # (0.0095 <= 4/15 * 0.05 = 0.0133), Bonferroni-type methods only 3 (Holm: 0.0095 * 12 = 0.114 > 0.05).
    p = [
        0.0001,
        0.0004,
        0.0019,
        0.0095,
        0.0201,
        0.0278,
        0.0298,
        0.0344,
        0.0459,
        0.3240,
        0.4262,
        0.5719,
        0.6528,
        0.7590,
        1.0000,
    ]
    _, bh_reject = correct(p, method="bh")
    _, holm_reject = correct(p, method="holm")
    assert bh_reject.tolist() == [True] * 4 + [False] * 11
    assert holm_reject.tolist() == [True] * 3 + [False] * 12


def test_holm_lies_between_raw_and_bonferroni():
    p = np.random.default_rng(0).uniform(size=12)
    adjusted = holm(p)
    assert np.all(adjusted >= p)
    assert np.all(adjusted <= np.minimum(1.0, 12 * p) + 1e-15)
