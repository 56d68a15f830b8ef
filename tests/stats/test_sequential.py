"""The sequential decisions on hand-worked cases (cross-checked with scipy), their determinism, and bad input.

The error-rate claims are tested by simulation in test_sequential_error_rates.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import (
    FixedDesignSeeds,
    Schedule,
    fixed_design_seeds,
    look_levels,
    paired_t_power,
    seeds_for_power,
    sequential_decisions,
)

SCHEDULE = Schedule(start=5, step=5, max=40)


def test_schedule_looks():
    assert SCHEDULE.looks == (5, 10, 15, 20, 25, 30, 35, 40)
    assert Schedule(5, 5, 42).looks == (5, 10, 15, 20, 25, 30, 35, 40, 42)  # a short last round
    assert Schedule(10, 3, 10).looks == (10,)  # one look: a fixed design
    for bad in ((1, 5, 40), (5, 0, 40), (5, 5, 4), (5.0, 5, 40), (True, 5, 40)):
        with pytest.raises(ValueError):
            Schedule(*bad)


def test_look_levels_spend_the_level_once_over_the_looks():
    levels = look_levels(SCHEDULE, 0.025)
    # 80% at the last look, the rest split evenly over the 7 before it.
    assert levels[-1] == pytest.approx(0.02)
    assert levels[:-1] == pytest.approx(np.full(7, 0.005 / 7))
    assert levels.sum() == pytest.approx(0.025)
    assert look_levels(Schedule(10, 1, 10), 0.01) == pytest.approx([0.01])
    assert look_levels(SCHEDULE, 0.01, final_share=0.5)[-1] == pytest.approx(0.005)
    with pytest.raises(ValueError, match="final_share"):
        look_levels(SCHEDULE, 0.01, final_share=1.0)


def test_first_look_by_hand_and_against_scipy():
    # d = [1, 2, 3, 4, 5] / 100: mean 0.03, sd sqrt(2.5)/100, se sqrt(0.5)/100, df 4.
    d = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]).T / 100
    (comp,) = sequential_decisions(d, SCHEDULE, alpha=0.05, margin=0.05)
    (look,) = comp.looks
    side = 0.05 / 2 * 0.2 / 7  # family of one: alpha / 2 per end, 20% of it over 7 interim looks
    assert look.n == 5 and look.nominal_alpha == pytest.approx(side)
    assert look.nominal_alpha_equivalence == pytest.approx(2 * side)
    assert look.estimate == pytest.approx(0.03)
    assert look.std == pytest.approx(math.sqrt(2.5) / 100)
    half = stats.t.isf(side, 4) * math.sqrt(0.5) / 100
    assert (look.ci_low, look.ci_high) == pytest.approx((0.03 - half, 0.03 + half))
    # Each end one-sided at `side` is scipy's two-sided interval at confidence 1 - 2 side.
    ci = stats.ttest_1samp(d[:, 0], 0.0).confidence_interval(1 - 2 * side)
    assert (look.ci_low, look.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    eq = stats.ttest_1samp(d[:, 0], 0.0).confidence_interval(1 - 4 * side)
    assert (look.eq_low, look.eq_high) == pytest.approx((eq.low, eq.high), rel=1e-10)
    # t = 4.24 is far below the critical t(4) at 0.0018 (~6.8): not better yet; the next look needs 10 seeds.
    assert look.decision == "undecided" and comp.decision == "undecided"
    assert comp.next_n == 10 and not comp.closed


def test_each_decision_and_its_priority():
    rng = np.random.default_rng(11)
    noise = rng.normal(0.0, 0.0002, size=(40, 1))
    d = np.hstack([0.01 + noise, -0.01 + noise, noise, 0.003 + noise])
    res = sequential_decisions(d, SCHEDULE, alpha=0.05, margin=0.02)
    assert [c.decision for c in res] == ["better", "worse", "equivalent", "better"]
    # Column 3 (0.003 ± 0.0002) lies inside the margin too: a sign, the stronger claim, wins.
    last = res[3].looks[-1]
    assert -0.02 < last.eq_low and last.eq_high < 0.02 and last.ci_low > 0
    assert all(c.closed and c.next_n is None for c in res)
    assert all(c.looks[-1].n == 5 for c in res)  # clear at the first look: no further rounds
    # Without a margin there is no equivalence: the null column runs to max and ends undecided.
    null = sequential_decisions(d, SCHEDULE, alpha=0.05, margin=0.0)[2]
    assert null.decision == "undecided" and null.closed and len(null.looks) == 8


def test_undecided_until_max_then_closed():
    d = np.random.default_rng(3).normal(0.0, 1.0, size=(40, 1))
    (comp,) = sequential_decisions(d, SCHEDULE)
    assert [look.n for look in comp.looks] == list(SCHEDULE.looks)
    assert all(look.decision == "undecided" for look in comp.looks)
    assert comp.closed


def test_seeds_not_yet_run_and_partial_rounds():
    d = np.random.default_rng(4).normal(0.0, 1.0, size=(40, 3))
    d[13:, 0] = np.nan  # 13 seeds: looks at 5 and 10; 11-13 wait for the look at 15
    d[:, 1] = np.nan  # nothing run yet
    res = sequential_decisions(d, SCHEDULE)
    assert [look.n for look in res[0].looks] == [5, 10] and res[0].next_n == 15
    assert res[1].looks == () and res[1].decision == "undecided" and res[1].next_n == 5
    assert len(res[2].looks) == 8 and res[2].closed
    # Fewer rows than max is the same as NaN below them.
    short = sequential_decisions(d[:13, :1], SCHEDULE, n_family=3)
    assert short[0] == res[0]


def test_same_inputs_same_decisions_and_appending_seeds_changes_no_earlier_look():
    rng = np.random.default_rng(5)
    full = rng.normal(0.004, 0.01, size=(40, 6))
    full[:, 5] += 0.02  # one clear winner, decided early
    whole = sequential_decisions(full, SCHEDULE, alpha=0.05, margin=0.01, n_family=6)
    assert sequential_decisions(full.copy(), SCHEDULE, alpha=0.05, margin=0.01, n_family=6) == whole
    for n in SCHEDULE.looks:
        partial = np.where(np.arange(40)[:, None] < n, full, np.nan)
        so_far = sequential_decisions(partial, SCHEDULE, alpha=0.05, margin=0.01, n_family=6)
        for a, b in zip(so_far, whole, strict=True):
            k = len(a.looks)
            assert a.looks == b.looks[:k]  # the same looks, numbers and decisions, up to seed n
            assert k == len(b.looks) or a.next_n == b.looks[k].n
    # A decided comparison ignores seeds that arrive later.
    decided = whole[5]
    assert decided.decision == "better" and decided.looks[-1].n < 40
    changed = full.copy()
    changed[decided.looks[-1].n :, 5] = -1.0
    assert sequential_decisions(changed, SCHEDULE, alpha=0.05, margin=0.01, n_family=6)[5] == decided


def test_a_larger_family_asks_for_more():
    d = np.random.default_rng(6).normal(0.01, 0.01, size=(40, 1))
    one = sequential_decisions(d, SCHEDULE, n_family=1)[0].looks[0]
    ten = sequential_decisions(d, SCHEDULE, n_family=10)[0].looks[0]
    assert ten.nominal_alpha == pytest.approx(one.nominal_alpha / 10)
    assert ten.ci_high - ten.ci_low > one.ci_high - one.ci_low


def test_constant_differences():
    # Zero spread: the interval shrinks to the mean, so a constant non-zero difference is decided at once.
    d = np.column_stack([np.full(40, 0.01), np.zeros(40)])
    better, same = sequential_decisions(d, SCHEDULE, margin=0.005)
    assert better.decision == "better" and better.looks[-1].n == 5
    assert same.decision == "equivalent" and same.looks[-1].n == 5


@pytest.mark.parametrize(
    ("differences", "kwargs", "match"),
    [
        (np.zeros(10), {}, "2-D"),
        (np.zeros((10, 0)), {}, "2-D"),
        (np.zeros((41, 2)), {}, "max=40"),
        (np.array([[0.1], [np.inf]]), {}, "infinite"),
        (np.array([[0.1], [np.nan], [0.2]]), {}, "column 0 has a number after a NaN"),
        ([["a"]], {}, "array of numbers"),
        (np.zeros((10, 3)), {"n_family": 2}, "n_family"),
        (np.zeros((10, 1)), {"alpha": 0.0}, "alpha"),
        (np.zeros((10, 1)), {"margin": -0.01}, "margin"),
        (np.zeros((10, 1)), {"margin": float("nan")}, "margin"),
    ],
)
def test_bad_input_names_the_problem(differences, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sequential_decisions(differences, SCHEDULE, **kwargs)


def test_fixed_design_seeds_reuse_the_power_module():
    # d_z = 0.5 over a family of 10: the two-sided t-test at 0.005.
    seeds = fixed_design_seeds(0.005, 0.01, alpha=0.05, n_family=10)
    assert seeds == FixedDesignSeeds(difference=seeds_for_power(0.5, alpha=0.005), equivalence=None)
    assert paired_t_power(seeds.difference, 0.5, 0.005) >= 0.8 > paired_t_power(seeds.difference - 1, 0.5, 0.005)
    assert fixed_design_seeds(0.0, 0.01).difference is None


def test_fixed_design_seeds_for_equivalence():
    # True difference 0 with sd 0.01 and margin 0.01: each one-sided test has d_z = 1 at alpha 0.05; the joint
    # power bound 2 p - 1 >= 0.8 needs each at 0.9, which the one-sided t-test reaches at n = 11 (G*Power: 11).
    seeds = fixed_design_seeds(0.0, 0.01, alpha=0.05, margin=0.01)
    assert seeds.equivalence == seeds_for_power(1.0, alpha=0.05, power=0.9, alternative="greater") == 11
    # A simulation agrees that 11 seeds give two one-sided tests at least 80% power.
    d = np.random.default_rng(8).normal(0.0, 0.01, size=(20000, 11))
    lower = stats.ttest_1samp(d, -0.01, axis=1, alternative="greater").pvalue < 0.05
    upper = stats.ttest_1samp(d, 0.01, axis=1, alternative="less").pvalue < 0.05
    assert np.mean(lower & upper) >= 0.8
    assert fixed_design_seeds(0.012, 0.01, margin=0.01).equivalence is None  # outside the margin
    with pytest.raises(ValueError, match="std"):
        fixed_design_seeds(0.01, 0.0)
