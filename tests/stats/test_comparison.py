"""compare_methods: every method against the reference, with gaps, directions and the family correction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats.comparison import ComparisonSettings, compare_methods

NAMES = ["ref", "up", "same", "down"]


def matrix() -> np.ndarray:
    # Hand-made: "up" is ref + 0.03 ± small; "same" differs by ±0.01 with mean 0; "down" is ref - 0.02 ± small.
    ref = np.array([0.90, 0.91, 0.89, 0.92, 0.90, 0.91])
    return np.column_stack(
        [
            ref,
            ref + np.array([0.031, 0.029, 0.030, 0.032, 0.028, 0.030]),
            ref + np.array([0.01, -0.01, 0.01, -0.01, 0.01, -0.01]),
            ref - np.array([0.021, 0.019, 0.020, 0.022, 0.018, 0.020]),
        ]
    )


def by_name(comparison):
    return {v.method: v for v in comparison.versus_reference}


def test_each_comparison_matches_scipy_and_holm_over_the_family() -> None:
    s = matrix()
    c = compare_methods(s, NAMES, "ref", ComparisonSettings())
    v = by_name(c)
    raw = [stats.ttest_rel(s[:, j], s[:, 0]).pvalue for j in (1, 2, 3)]
    order = np.argsort(raw)
    holm = np.empty(3)
    holm[order] = np.maximum.accumulate(np.minimum(1, (3 - np.arange(3)) * np.array(raw)[order]))
    for j, name in enumerate(["up", "same", "down"]):
        assert v[name].paired.t_p_value == pytest.approx(raw[j])
        assert v[name].t_p_adjusted == pytest.approx(holm[j])
        assert v[name].p_adjusted == v[name].t_p_adjusted
    assert (v["up"].outcome, v["same"].outcome, v["down"].outcome) == ("better", "no significant difference", "worse")
    assert v["up"].p_better == 1.0 and v["down"].p_better == 0.0 and v["same"].p_better == 0.5
    assert v["up"].d_z == pytest.approx(0.03 / np.std([0.031, 0.029, 0.030, 0.032, 0.028, 0.030], ddof=1))


def test_summaries_are_means_stds_and_t_intervals() -> None:
    s = matrix()
    a = compare_methods(s, NAMES, "ref", ComparisonSettings(confidence_level=0.9))
    ref = a.summaries[0]
    assert (ref.n, ref.mean, ref.std) == (6, pytest.approx(s[:, 0].mean()), pytest.approx(s[:, 0].std(ddof=1)))
    # The one-sample t-test's interval at the settings' level; no randomness, so no seed.
    direct = stats.ttest_1samp(s[:, 0], 0.0).confidence_interval(0.9)
    assert (ref.ci.low, ref.ci.high) == pytest.approx((direct.low, direct.high))
    assert (ref.ci.method, ref.ci.confidence_level, ref.ci.n) == ("t", 0.9, 6)


def test_missing_runs_use_the_seeds_both_methods_have() -> None:
    s = matrix()
    s[0, 1] = np.nan
    s[[1, 2, 3, 4, 5], 3] = np.nan  # "down" keeps one seed: not testable
    c = compare_methods(s, NAMES, "ref", ComparisonSettings())
    v = by_name(c)
    assert v["up"].n_pairs == 5
    assert v["up"].paired.t_p_value == pytest.approx(stats.ttest_rel(s[1:, 1], s[1:, 0]).pvalue)
    assert v["down"].outcome == "not tested" and v["down"].paired is None
    # The family is the two testable comparisons.
    raw = sorted([v["up"].paired.t_p_value, v["same"].paired.t_p_value])
    assert min(v["up"].t_p_adjusted, v["same"].t_p_adjusted) == pytest.approx(2 * raw[0])
    assert c.ranks.n_seeds == 0 and c.ranks.friedman is None  # no seed is complete for all four


def test_lower_is_better_flips_direction_but_not_the_differences() -> None:
    s = matrix()
    c = compare_methods(s, NAMES, "ref", ComparisonSettings(higher_is_better=False, alternative="better"))
    v = by_name(c)
    assert v["up"].paired.alternative == "less"
    assert v["up"].paired.mean_difference == pytest.approx(0.03)
    assert v["up"].outcome == "no significant difference" and v["up"].p_better == 0.0
    assert v["down"].outcome == "better" and v["down"].p_better == 1.0
    assert v["down"].paired.t_p_value == pytest.approx(stats.ttest_rel(s[:, 3], s[:, 0], alternative="less").pvalue)
    assert c.ranks.average_ranks[3] == 1.0  # lowest loss ranks first


def test_friedman_ranks_and_critical_difference_match_scipy() -> None:
    s = matrix()
    c = compare_methods(s, NAMES, "ref", ComparisonSettings())
    f = stats.friedmanchisquare(*s.T)
    assert c.ranks.friedman.statistic == pytest.approx(f.statistic)
    assert c.ranks.friedman.p_value == pytest.approx(f.pvalue)
    # "up" always first, "down" always last; "ref" and "same" swap places seed by seed: 2 and 3 alternate.
    assert c.ranks.average_ranks == pytest.approx((2.5, 1.0, 2.5, 4.0))
    assert c.ranks.average_ranks == pytest.approx(tuple(stats.rankdata(-s, axis=1).mean(axis=0)))
    q = stats.studentized_range.ppf(0.95, 4, np.inf) / np.sqrt(2)
    assert c.ranks.critical_difference == pytest.approx(q * np.sqrt(4 * 5 / (6 * 6)))


def test_three_seeds_warn_that_wilcoxon_cannot_reject() -> None:
    c = compare_methods(matrix()[:3], NAMES, "ref", ComparisonSettings(test="wilcoxon"))
    assert any("cannot go below p = 0.25" in w for w in c.warnings)
    assert all(not v.significant for v in c.versus_reference)


@pytest.mark.parametrize(
    ("scores", "names", "reference", "settings", "message"),
    [
        (np.zeros((3, 1)), ["a"], "a", ComparisonSettings(), "2 methods or more"),
        (np.zeros((3, 2)), ["a", "a"], "a", ComparisonSettings(), "each of the 2 columns once"),
        (np.zeros((3, 2)), ["a", "b"], "c", ComparisonSettings(), "reference 'c'"),
        (np.full((3, 2), np.inf), ["a", "b"], "a", ComparisonSettings(), "infinite"),
        (np.zeros((3, 2)), ["a", "b"], "a", ComparisonSettings(test="z"), "test must be one of"),
        (np.zeros((3, 2)), ["a", "b"], "a", ComparisonSettings(alternative="greater"), "'two-sided' or 'better'"),
    ],
)
def test_bad_input_names_the_problem(scores, names, reference, settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        compare_methods(scores, names, reference, settings)
