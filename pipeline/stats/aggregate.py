"""Aggregates over tasks, the way careful benchmarks report them (Agarwal et al. 2021, "Deep RL at the edge of the
statistical precipice", and its library rliable; Dolan and Moré 2002 for performance profiles).

Scores of one method are an array of shape ``(n_seeds, n_tasks)``, higher is better, NaN where a seed was not run
(a sequential study gives each task its own number of seeds). Every function reads the finite values only.

- ``iqm``: the interquartile mean of all runs of all tasks pooled (the 25% trimmed mean, rliable's
  ``aggregate_iqm``), with every task weighing the same: a sequential study stops a method early on the tasks
  where it is decided, and pooling its runs as they are would weigh its other tasks more than the reference's.
- ``improvement_probability``: P(X > Y) per task from all pairs of runs (ties count half: the Mann-Whitney U over
  n_x n_y), averaged over the tasks, as rliable's ``probability_of_improvement``.
- ``stratified_bootstrap_interval``: a percentile interval of any such statistic, resampling each method's runs
  with replacement within each task (rliable's stratified bootstrap over runs), with an explicit generator.
- ``performance_profile``: the fraction of tasks on which a method is within τ of the best method's mean.
- ``signed_rank_over_tasks``: each method against the reference over the tasks' means, by the Wilcoxon
  signed-rank test with Holm's correction (the pairwise procedure Benavoli et al. 2016 recommend over mean-rank
  post-hoc tests); the Friedman test over tasks is ``ranks.friedman_test`` on the same ``(n_tasks, n_methods)``.

rliable 1.2 itself is not used: it requires ``arch < 8``, and arch 7 does not import with pandas 3 (``TypeError``
in ``deprecate_kwarg``). ``tests/stats/test_aggregate.py`` checks these functions against values rliable 1.2.0
computed on the same arrays (with pandas 2), and against hand-computed cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from pipeline.stats import _validate
from pipeline.stats.corrections import holm


def _runs(scores, name: str = "scores") -> np.ndarray:
    """``scores`` as a float array of shape ``(n_seeds, n_tasks)``; NaN allowed (not run), infinities not."""
    s = _validate.matrix_with_gaps(scores, name, "(n_seeds, n_tasks >= 1)")
    empty = np.flatnonzero(~np.isfinite(s).any(axis=0))
    if empty.size:
        raise ValueError(f"{name} has no run on task {int(empty[0])}; every task needs at least one")
    return s


def iqm(scores) -> float:
    """The interquartile mean of every finite score, all tasks pooled, each task weighing the same.

    With the same number of runs on every task this is ``scipy.stats.trim_mean(x, 0.25)``, rliable's IQM. With
    different numbers it is that trimmed mean over the runs of each task repeated until every task has as many
    (the least common multiple of the counts), computed with weights instead of copies.
    """
    s = _runs(scores)
    finite = np.isfinite(s)
    counts = finite.sum(axis=0)
    per_task = math.lcm(*(int(c) for c in counts))
    total = per_task * s.shape[1]  # runs after the repeats, as Python ints: the lcm can exceed int64
    cut = (total // 4) / total  # trim_mean cuts int(0.25 n) runs from each end
    values = s[finite]
    weights = np.broadcast_to(1.0 / (counts * s.shape[1]), s.shape)[finite]
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    upper = np.cumsum(weights)
    kept = np.clip(np.minimum(upper, 1.0 - cut) - np.maximum(upper - weights, cut), 0.0, None)
    return float(np.sum(kept * values) / np.sum(kept))


def improvement_probability(scores_x, scores_y) -> float:
    """P(X > Y), ties counting half, from all pairs of runs of each task, averaged over the tasks."""
    x, y = _runs(scores_x, "scores_x"), _runs(scores_y, "scores_y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"scores_x and scores_y must have the same tasks, got {x.shape[1]} and {y.shape[1]}")
    per_task = []
    for t in range(x.shape[1]):
        a, b = x[np.isfinite(x[:, t]), t], y[np.isfinite(y[:, t]), t]
        # U counts the pairs with a > b, plus half of the tied pairs.
        u = (a[:, None] > b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum()
        per_task.append(u / (a.size * b.size))
    return float(np.mean(per_task))


def stratified_bootstrap_interval(
    statistic: Callable[..., float],
    samples: Sequence,
    rng: np.random.Generator,
    *,
    reps: int = 2000,
    confidence_level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(*samples)``: each sample (a method's ``(n_seeds, n_tasks)`` scores) is
    resampled independently, its finite runs drawn with replacement within each task, ``reps`` times."""
    arrays = [_runs(s, f"samples[{i}]") for i, s in enumerate(samples)]
    reps = _validate.integer(reps, "reps", minimum=10)
    level = _validate.open_unit(confidence_level, "confidence_level")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (pipeline.seeding derives one), got {type(rng).__name__}")
    columns = [[a[np.isfinite(a[:, t]), t] for t in range(a.shape[1])] for a in arrays]
    values = np.empty(reps)
    for r in range(reps):
        resampled = [_resample(task_runs, rng) for task_runs in columns]
        values[r] = statistic(*resampled)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def _resample(task_runs: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One stratified resample: each task's runs drawn with replacement, NaN-padded to ``(max runs, n_tasks)``."""
    out = np.full((max(r.size for r in task_runs), len(task_runs)), np.nan)
    for t, runs in enumerate(task_runs):
        out[: runs.size, t] = runs[rng.integers(0, runs.size, runs.size)]
    return out


def performance_profile(task_means, taus) -> np.ndarray:
    """Fraction of tasks on which each method's mean is within τ of the best method's, shape ``(n_taus,
    n_methods)``. ``task_means`` has shape ``(n_tasks, n_methods)``, higher is better, all finite."""
    m = _validate.scores_matrix(task_means, min_seeds=1, min_methods=1)
    t = np.asarray(taus, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"taus must be a non-empty 1-D array of finite numbers >= 0, got {taus!r}")
    gaps = m.max(axis=1, keepdims=True) - m  # (n_tasks, n_methods), 0 for the best
    # A gap of exactly τ is within it: 0.75 - 0.74 is 0.010000000000000009 in floating point.
    slack = 1e-12 * np.maximum(1.0, np.abs(m).max())
    return (gaps[None, :, :] <= t[:, None, None] + slack).mean(axis=1)


def signed_rank_over_tasks(task_means, reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilcoxon signed-rank p-values of each method against column ``reference`` over the tasks, and
    their Holm-adjusted values, each of shape ``(n_methods,)`` (NaN for the reference). ``task_means`` has shape
    ``(n_tasks, n_methods)``. With n tasks the smallest possible p-value is 2 / 2^n (0.0625 at 5 tasks)."""
    m = _validate.scores_matrix(task_means, min_seeds=2, min_methods=2)
    ref = _validate.integer(reference, "reference", minimum=0)
    if ref >= m.shape[1]:
        raise ValueError(f"reference must be a column of task_means (0 to {m.shape[1] - 1}), got {reference}")
    others = [j for j in range(m.shape[1]) if j != ref]
    p = np.full(m.shape[1], np.nan)
    for j in others:
        d = m[:, j] - m[:, ref]
        # Every task tied: no evidence of a difference (scipy's statistic is undefined there).
        p[j] = 1.0 if np.all(d == 0) else float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
    adjusted = np.full(m.shape[1], np.nan)
    adjusted[others] = holm(p[others])
    return p, adjusted
