"""Statistics for comparing optimizers over seeds: pure functions over arrays, scipy underneath.

Scores are arrays of shape ``(n_seeds, n_methods)``, or ``(n_seeds,)`` for one method, higher is better.
No I/O and no hidden randomness: the bootstrap takes its generator or seed as an argument.
Bad input raises ValueError naming the problem.

- paired.py        one method against the reference on the same seeds (t-test, Wilcoxon, t interval)
- corrections.py   Holm and Benjamini–Hochberg over a family of p-values
- effect_sizes.py  paired d_z, Hedges' g, probability of improvement
- intervals.py     the t-interval of a mean: every interval of a mean or mean difference the report prints
- bootstrap.py     bootstrap interval of a mean (not used by the report: too narrow at a study's few seeds)
- ranks.py         Friedman test, average ranks, Nemenyi critical difference
- power.py         paired t-test power and the seeds it needs
- design.py        the smallest Wilcoxon p-value, warnings about designs that cannot reach significance
- sequential.py    a study in rounds of seeds: better / worse / equivalent / undecided after each round
- variance_split.py  a paired difference's spread over seeds split into its test-set and between-run parts
- aggregate.py     across tasks ``(n_seeds, n_tasks)``: IQM, probability of improvement, stratified bootstrap
                   intervals, performance profiles, signed-rank tests over tasks with Holm
"""

from pipeline.stats.aggregate import (
    improvement_probability,
    iqm,
    performance_profile,
    signed_rank_over_tasks,
    stratified_bootstrap_interval,
)
from pipeline.stats.bootstrap import BootstrapInterval, bootstrap_mean_ci
from pipeline.stats.corrections import benjamini_hochberg, correct, holm
from pipeline.stats.design import design_warnings, minimum_wilcoxon_p
from pipeline.stats.effect_sizes import hedges_g, paired_dz, probability_of_improvement
from pipeline.stats.intervals import MeanInterval, mean_t_interval, t_bounds
from pipeline.stats.paired import PairedComparison, paired_comparison
from pipeline.stats.power import paired_t_power, seeds_for_power
from pipeline.stats.ranks import FriedmanResult, average_ranks, critical_difference, friedman_test, nemenyi_q
from pipeline.stats.sequential import (
    FixedDesignSeeds,
    Look,
    Schedule,
    SequentialComparison,
    fixed_design_seeds,
    look_levels,
    sequential_decisions,
)
from pipeline.stats.variance_split import VarianceSplit, split_variance

__all__ = [
    "BootstrapInterval",
    "FixedDesignSeeds",
    "FriedmanResult",
    "Look",
    "MeanInterval",
    "PairedComparison",
    "Schedule",
    "SequentialComparison",
    "VarianceSplit",
    "average_ranks",
    "benjamini_hochberg",
    "bootstrap_mean_ci",
    "correct",
    "critical_difference",
    "design_warnings",
    "fixed_design_seeds",
    "friedman_test",
    "hedges_g",
    "holm",
    "improvement_probability",
    "iqm",
    "look_levels",
    "mean_t_interval",
    "minimum_wilcoxon_p",
    "nemenyi_q",
    "paired_comparison",
    "paired_dz",
    "paired_t_power",
    "performance_profile",
    "probability_of_improvement",
    "seeds_for_power",
    "sequential_decisions",
    "signed_rank_over_tasks",
    "split_variance",
    "stratified_bootstrap_interval",
    "t_bounds",
]
