"""The spread of a paired difference over seeds, split into the finite test set's part and the training runs' part.

Per-example outcomes: ``method`` and ``reference`` hold one score per test example and seed, shape
``(n_seeds, n_examples)`` (1 or 0 for a correct or wrong prediction when the metric is accuracy), the same examples
for every seed, row k of both from the same paired seed. The paired difference of seed k is ``d_k = mean_i x_ki``
with ``x_ki = method_ki - reference_ki``.

On a fixed test set of n examples the variance of ``d`` over training runs splits in two (Jordan, ICLR 2024,
Lemma 2, whose proof holds for any bounded per-example score, so for a paired difference too)::

    Var(d) = (1/n²) Σ_i Var(x_i)  +  (1/n²) Σ_{i≠j} Cov(x_i, x_j)
             per-example part        between-run part

The per-example part is which examples a run happens to get right: it falls as 1/n on a larger test set from the
same distribution. The between-run part is how much the runs' models differ as wholes: no test set removes it; only
more seeds average it out.

Estimators, each unbiased: ``total``, the sample variance of ``d`` over seeds; ``per_example``,
``(1/n²) Σ_i s_i²`` with ``s_i²`` the sample variance of ``x_i`` over seeds; ``between = total - per_example``
(an estimate below 0 is reported as it is, and taken as 0 in projections).

Intervals, at ``confidence_level``:

- ``total``: chi-square with n_seeds - 1 degrees of freedom (``d_k`` is a mean of n per-example differences, close
  to normal);
- ``per_example``: t with n_seeds - 1 degrees of freedom, with the jackknife's standard error over seeds (the seeds
  are the independent units; the examples share them);
- ``between``: the total's bounds less the per-example estimate, each widened by the per-example part's margin;
- ``share`` (per-example part / total): the per-example bounds over the total's bounds, within [0, 1].

``tests/stats/test_variance_split.py`` measures the coverage of each on simulated correctness matrices whose parts
are known exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from pipeline.stats import _validate

Lever = Literal["test set", "seeds", "both"]


@dataclass(frozen=True)
class VarianceSplit:
    """The variance over seeds of a paired difference of means over ``examples`` test examples, and its two parts;
    each interval bounds its part at ``confidence_level``."""

    seeds: int
    examples: int
    mean: float  # the mean paired difference
    total: float
    per_example: float
    between: float
    total_interval: tuple[float, float]
    per_example_interval: tuple[float, float]
    between_interval: tuple[float, float]
    share_interval: tuple[float, float]  # of the per-example part in the total
    confidence_level: float

    @property
    def share(self) -> float:
        """The per-example (test-set) part's share of the total, in [0, 1] (nan when there is no spread)."""
        if self.total <= 0:
            return math.nan
        return min(1.0, max(0.0, self.per_example / self.total))

    def projected_half_width(self, *, seeds: int | None = None, test_factor: float = 1.0) -> float:
        """The half-width of the t-interval of the mean difference with ``seeds`` seeds (default: as many as now)
        and a test set ``test_factor`` times as large, at this split's confidence level: the per-example part
        falls with the test set, the between-run part does not."""
        seeds = self.seeds if seeds is None else seeds
        if seeds < 2 or test_factor <= 0:
            raise ValueError(f"seeds must be at least 2 and test_factor above 0, got {seeds} and {test_factor}")
        between = max(self.between, 0.0)
        per_example = max(self.total - between, 0.0)  # so that the projection at today's design is today's
        variance = between + per_example / test_factor
        quantile = stats.t.ppf(0.5 + self.confidence_level / 2, seeds - 1)
        return float(quantile * math.sqrt(variance / seeds))

    def lever(self) -> Lever:
        """What narrows the interval most, by the estimated share: a larger test set when the per-example part is
        at least 60% of the spread, more seeds when it is at most 40%, else both. (The share's interval is wide at
        a study's seeds: the total's chi-square bounds span a factor of 2 or more below 25 seeds; the report
        prints it beside the words.)"""
        if math.isnan(self.share):
            return "both"
        if self.share >= 0.6:
            return "test set"
        if self.share <= 0.4:
            return "seeds"
        return "both"


def split_variance(method, reference, *, confidence_level: float = 0.95) -> VarianceSplit:
    """The variance over seeds of ``mean(method - reference)`` split into its per-example and between-run parts
    (module docstring), from per-example scores of shape ``(n_seeds, n_examples)``, n_seeds >= 3."""
    x = _differences(method, reference)
    confidence_level = _validate.open_unit(confidence_level, "confidence_level")
    seeds, examples = x.shape
    d = x.mean(axis=1)
    total = float(d.var(ddof=1))
    per_example = float(x.var(axis=0, ddof=1).sum() / examples**2)
    margin = stats.t.ppf(0.5 + confidence_level / 2, seeds - 1) * _jackknife_se(x)  # t: a jackknife of few seeds
    alpha = 1.0 - confidence_level
    dof = seeds - 1
    total_low = dof * total / stats.chi2.ppf(1 - alpha / 2, dof)
    total_high = dof * total / stats.chi2.ppf(alpha / 2, dof)
    per_example_low, per_example_high = max(per_example - margin, 0.0), per_example + margin
    if total > 0:
        share = (min(1.0, per_example_low / total_high), min(1.0, per_example_high / total_low))
    else:
        share = (math.nan, math.nan)
    return VarianceSplit(
        seeds=seeds,
        examples=examples,
        mean=float(d.mean()),
        total=total,
        per_example=per_example,
        between=total - per_example,
        total_interval=(float(total_low), float(total_high)),
        per_example_interval=(per_example_low, per_example_high),
        between_interval=(float(total_low - per_example - margin), float(total_high - per_example + margin)),
        share_interval=share,
        confidence_level=confidence_level,
    )


def _differences(method, reference) -> np.ndarray:
    a = _validate.scores_matrix(method, min_seeds=3)
    b = _validate.scores_matrix(reference, min_seeds=3)
    if a.shape != b.shape:
        raise ValueError(
            f"method and reference must hold the same seeds and examples, got shapes {a.shape} and {b.shape}"
        )
    return a - b


def _jackknife_se(x: np.ndarray) -> float:
    """The jackknife standard error over seeds of ``(1/n²) Σ_i s_i²``: each seed left out in turn, in closed form
    from the per-example sums."""
    seeds, examples = x.shape
    s1, s2 = x.sum(axis=0), (x**2).sum(axis=0)
    rest1, rest2 = s1 - x, s2 - x**2  # (seeds, examples): the sums without seed k
    variances = (rest2 - rest1**2 / (seeds - 1)) / (seeds - 2)
    estimates = variances.sum(axis=1) / examples**2
    return float(math.sqrt((seeds - 1) / seeds * ((estimates - estimates.mean()) ** 2).sum()))
