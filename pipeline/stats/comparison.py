"""Every method against the reference, and all methods at once: the statistics a study's verdict rests on.

Scores have shape ``(n_seeds, n_methods)``, one row per seed (the same seed in every column: paired), NaN
where a run is missing (failed, or never ran). Each comparison uses the seeds where both of its methods have
a score; the Friedman test and the ranks use the seeds where every method has one. Nothing is imputed here:
how a diverged run is scored is the caller's decision, made before this module sees the array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.stats import _validate
from pipeline.stats.corrections import correct
from pipeline.stats.design import design_warnings
from pipeline.stats.effect_sizes import hedges_g, paired_dz, probability_of_improvement
from pipeline.stats.intervals import MeanInterval, mean_t_interval
from pipeline.stats.paired import PairedComparison, paired_comparison
from pipeline.stats.power import seeds_for_power
from pipeline.stats.ranks import FriedmanResult, average_ranks, critical_difference, friedman_test

TESTS = ("t", "wilcoxon")


@dataclass(frozen=True)
class ComparisonSettings:
    """``alternative`` is ``"two-sided"`` or ``"better"`` (one-sided: the method beats the reference, which
    means higher scores, or lower ones when ``higher_is_better`` is False). ``test`` names the paired test whose
    corrected p-value decides; ``correction`` is ``"holm"`` or ``"bh"``. ``bootstrap_resamples`` and
    ``bootstrap_seed`` are no longer used (the per-method intervals are t-intervals, see
    :mod:`pipeline.stats.intervals`); they stay so that settings built from a study's ``statistics`` keep
    their fields."""

    alpha: float = 0.05
    test: str = "t"
    correction: str = "holm"
    alternative: str = "two-sided"
    higher_is_better: bool = True
    confidence_level: float = 0.95
    power: float = 0.8
    bootstrap_resamples: int = 9999
    bootstrap_seed: int = 0

    @property
    def scipy_alternative(self) -> str:
        if self.alternative == "two-sided":
            return "two-sided"
        if self.alternative == "better":
            return "greater" if self.higher_is_better else "less"
        raise ValueError(f"alternative must be 'two-sided' or 'better', got {self.alternative!r}")


@dataclass(frozen=True)
class MethodSummary:
    """One method's scores over the seeds it has: mean, sample std (ddof=1) and the t-interval of the mean;
    std and interval are None under 2 seeds."""

    method: str
    n: int
    mean: float | None
    std: float | None
    ci: MeanInterval | None


@dataclass(frozen=True)
class VersusReference:
    """One method against the reference on ``n_pairs`` shared seeds.

    ``paired`` holds the means, the mean difference (method - reference) with its t interval, and both raw
    p-values. ``t_p_adjusted`` / ``wilcoxon_p_adjusted`` are corrected across the family of tested methods;
    ``p_adjusted`` is the one of the deciding test and ``significant`` its decision at alpha. ``outcome`` is
    ``better``, ``worse`` or ``no significant difference`` (``not tested`` under 2 pairs). ``d_z`` and
    ``hedges_g`` keep the sign of the difference; ``p_better`` is P(method better than reference), ties half.
    ``seeds_needed``: paired seeds for the t-test to detect this d_z at alpha with the target power.
    """

    method: str
    n_pairs: int
    paired: PairedComparison | None
    d_z: float | None
    hedges_g: float | None
    p_better: float | None
    t_p_adjusted: float | None
    wilcoxon_p_adjusted: float | None
    p_adjusted: float | None
    significant: bool
    outcome: str
    seeds_needed: int | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RankAnalysis:
    """Across all methods on the ``n_seeds`` seeds complete for every one: average ranks (1 = best),
    the Friedman test (3 methods or more) and the Nemenyi critical difference between average ranks."""

    methods: tuple[str, ...]
    n_seeds: int
    average_ranks: tuple[float, ...]
    friedman: FriedmanResult | None
    critical_difference: float | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    reference: str
    settings: ComparisonSettings
    summaries: tuple[MethodSummary, ...]
    versus_reference: tuple[VersusReference, ...]  # every method but the reference, in column order
    ranks: RankAnalysis
    warnings: tuple[str, ...]


def compare_methods(scores, methods: list[str], reference: str, settings: ComparisonSettings) -> Comparison:
    """Compare every column of ``scores`` (shape ``(n_seeds, n_methods)``, NaN = missing) with ``reference``.

    Raises ValueError for a malformed array, names that do not match its columns, or bad settings; a method
    with too few seeds is not an error: its comparison says "not tested" and why.
    """
    s = _scores_with_gaps(scores)
    if len(methods) != s.shape[1] or len(set(methods)) != len(methods):
        raise ValueError(f"methods must name each of the {s.shape[1]} columns once, got {methods}")
    if reference not in methods:
        raise ValueError(f"reference {reference!r} is not one of the methods {methods}")
    if settings.test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}; got {settings.test!r}")
    _validate.open_unit(settings.alpha, "alpha")
    sign = 1.0 if settings.higher_is_better else -1.0
    summaries = tuple(_summary(name, s[:, j], settings) for j, name in enumerate(methods))

    ref = s[:, methods.index(reference)]
    others = [(j, name) for j, name in enumerate(methods) if name != reference]
    raw = [_versus(name, s[:, j], ref, settings, sign) for j, name in others]
    versus = _corrected(raw, settings)
    tested = [v for v in versus if v.paired is not None]
    warnings = []
    if tested:
        n_pairs = min(v.n_pairs for v in tested)
        warnings = design_warnings(
            n_pairs, settings.alpha, settings.scipy_alternative, n_comparisons=max(1, len(tested))
        )
    return Comparison(
        reference, settings, summaries, tuple(versus), _ranks(s * sign, methods, settings), tuple(warnings)
    )


def _scores_with_gaps(scores) -> np.ndarray:
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"scores must be an array of numbers: {err}") from None
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"scores must have shape (n_seeds, n_methods) with 2 methods or more, got {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError("scores contain infinite values; score diverged runs before comparing")
    return arr


def _summary(name: str, x: np.ndarray, settings: ComparisonSettings) -> MethodSummary:
    x = x[np.isfinite(x)]
    if x.size < 2:  # one seed has a mean but no spread, so no interval
        return MethodSummary(name, int(x.size), float(x[0]) if x.size else None, None, None)
    ci = mean_t_interval(x, confidence_level=settings.confidence_level)
    return MethodSummary(name, int(x.size), float(x.mean()), float(x.std(ddof=1)), ci)


def _versus(name: str, x: np.ndarray, ref: np.ndarray, settings: ComparisonSettings, sign: float) -> VersusReference:
    both = np.isfinite(x) & np.isfinite(ref)
    m, r = x[both], ref[both]
    n = int(both.sum())
    if n < 2:
        why = f"{n} seed(s) with a score for both {name} and the reference: a paired test needs at least 2"
        return VersusReference(name, n, None, None, None, None, None, None, None, False, "not tested", None, (why,))
    paired = paired_comparison(m, r, alternative=settings.scipy_alternative, confidence_level=settings.confidence_level)
    d_z = paired_dz(m, r)
    notes = list(paired.notes)
    if np.isfinite(d_z) and d_z != 0.0:
        needed = seeds_for_power(d_z, settings.alpha, settings.power, settings.scipy_alternative)
    else:
        needed = None
        notes.append("no seed count is given: the differences have no spread" if d_z else "the mean difference is 0")
    return VersusReference(
        method=name,
        n_pairs=n,
        paired=paired,
        d_z=d_z,
        hedges_g=hedges_g(m, r),
        p_better=probability_of_improvement(sign * m, sign * r),
        t_p_adjusted=None,
        wilcoxon_p_adjusted=None,
        p_adjusted=None,
        significant=False,
        outcome="",
        seeds_needed=needed,
        notes=tuple(notes),
    )


def _corrected(raw: list[VersusReference], settings: ComparisonSettings) -> list[VersusReference]:
    """Correct both tests' p-values across the tested family; decide on the chosen test's."""
    tested = [i for i, v in enumerate(raw) if v.paired is not None]
    if not tested:
        return raw
    t_adj, t_reject = correct([raw[i].paired.t_p_value for i in tested], settings.correction, settings.alpha)
    w_adj, w_reject = correct([raw[i].paired.wilcoxon_p_value for i in tested], settings.correction, settings.alpha)
    out = list(raw)
    for k, i in enumerate(tested):
        v = raw[i]
        adjusted, reject = (t_adj[k], t_reject[k]) if settings.test == "t" else (w_adj[k], w_reject[k])
        improved = (v.paired.mean_difference > 0) == settings.higher_is_better
        outcome = ("better" if improved else "worse") if reject and v.paired.mean_difference != 0 else ""
        out[i] = VersusReference(
            **{
                **v.__dict__,
                "t_p_adjusted": float(t_adj[k]),
                "wilcoxon_p_adjusted": float(w_adj[k]),
                "p_adjusted": float(adjusted),
                "significant": bool(reject),
                "outcome": outcome or "no significant difference",
            }
        )
    return out


def _ranks(oriented: np.ndarray, methods: list[str], settings: ComparisonSettings) -> RankAnalysis:
    complete = oriented[np.all(np.isfinite(oriented), axis=1)]
    n, k = complete.shape
    notes = []
    if n < oriented.shape[0]:
        notes.append(f"{oriented.shape[0] - n} seed(s) lack a score for some method and are left out of the ranks")
    if n == 0:
        return RankAnalysis(tuple(methods), 0, (), None, None, (*notes, "no seed has a score for every method"))
    ranks = tuple(float(r) for r in average_ranks(complete))
    friedman = None
    if k < 3:
        notes.append("the Friedman test needs 3 methods or more")
    elif n < 2:
        notes.append("the Friedman test needs 2 complete seeds or more")
    else:
        friedman = friedman_test(complete)
    return RankAnalysis(tuple(methods), n, ranks, friedman, critical_difference(k, n, settings.alpha), tuple(notes))
