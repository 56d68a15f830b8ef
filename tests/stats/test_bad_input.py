"""Every bad input raises ValueError with a message naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import stats as ps

NAN = float("nan")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ps.paired_comparison([1, 2, 3], [1, 2]), r"method has 3 values but reference has 2"),
        (lambda: ps.paired_comparison([1.0], [2.0]), r"at least 2 paired values, got 1"),
        (lambda: ps.paired_comparison([1, NAN, 3], [1, 2, 3]), r"method contains NaN \(first at index \[1\]\)"),
        (lambda: ps.paired_comparison([1, 2], [1, np.inf]), r"reference contains infinite values"),
        (lambda: ps.paired_comparison([[1, 2]], [[1, 2]]), r"method must be 1-D"),
        (lambda: ps.paired_comparison(["a", "b"], [1, 2]), r"method must be an array of numbers"),
        (lambda: ps.paired_comparison([1, 2], [2, 3], alternative="bigger"), r"alternative must be one of"),
        (lambda: ps.paired_comparison([1, 2], [2, 3], confidence_level=95), r"confidence_level=95"),
        (lambda: ps.correct([0.1, 1.2]), r"p_values must lie in \[0, 1\], got \[1\.2\]"),
        (lambda: ps.correct([]), r"p_values needs at least 1 values, got 0"),
        (lambda: ps.correct([0.1, NAN]), r"p_values contains NaN"),
        (lambda: ps.correct([0.1], method="bonferroni"), r"method must be one of holm, bh; got 'bonferroni'"),
        (lambda: ps.correct([0.1], alpha=0.0), r"alpha must lie strictly between 0 and 1"),
        (lambda: ps.paired_dz([1, 2], [1, 2, 3]), r"method has 2 values but reference has 3"),
        (lambda: ps.paired_dz([1], [2]), r"at least 2 paired values"),
        (lambda: ps.hedges_g([1], [1, 2]), r"method needs at least 2 values, got 1"),
        (lambda: ps.probability_of_improvement([1, 2], [1]), r"method has 2 values but reference has 1"),
        (lambda: ps.bootstrap_mean_ci([1, 2], rng=None), r"rng must be a numpy\.random\.Generator"),
        (lambda: ps.bootstrap_mean_ci([1, 2], rng=0, method="basic"), r"method must be one of BCa, percentile"),
        (lambda: ps.bootstrap_mean_ci([], rng=0), r"x needs at least 1 values, got 0"),
        (lambda: ps.bootstrap_mean_ci([1, 2], rng=0, n_resamples=0), r"n_resamples must be an integer >= 1"),
        (lambda: ps.friedman_test(np.ones((5, 2))), r"at least 3 methods, got 2; compare two methods with the paired"),
        (lambda: ps.friedman_test(np.ones((1, 3))), r"at least 2 seeds \(rows\), got 1"),
        (lambda: ps.average_ranks([1, 2, 3]), r"scores must be 2-D with shape \(n_seeds, n_methods\)"),
        (lambda: ps.average_ranks([[1, NAN]]), r"scores contains NaN \(first at index \[\(0, 1\)\]\)"),
        (lambda: ps.nemenyi_q(1), r"n_methods must be an integer >= 2, got n_methods=1"),
        (lambda: ps.critical_difference(3, 0), r"n_seeds must be an integer >= 1"),
        (lambda: ps.paired_t_power(1, 0.5), r"n must be an integer >= 2, got n=1"),
        (lambda: ps.seeds_for_power(NAN), r"d_z must be a finite number"),
        (lambda: ps.seeds_for_power(0.5, power=1.0), r"power must lie strictly between 0 and 1"),
        (lambda: ps.minimum_wilcoxon_p(0), r"n must be an integer >= 1, got n=0"),
        (lambda: ps.design_warnings(0), r"n_seeds must be an integer >= 1"),
        (lambda: ps.design_warnings(5, n_comparisons=0), r"n_comparisons must be an integer >= 1"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
