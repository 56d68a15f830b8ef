"""A study that runs until it has an answer: paired t decisions after each planned round of seeds.

Each method is compared with the reference on the same seeds. Seeds come in rounds fixed in advance
(``Schedule``); after each round every still-open comparison is called ``better``, ``worse``, ``equivalent``
or left ``undecided``. A decision is final. The family-wise error over ``n_family`` methods (any false
better/worse, or a false equivalent where |true difference| >= margin) is at most ``alpha`` for Gaussian
differences however the rounds fall, because every claim rests on a union bound over methods and looks:
method j's look k uses a t interval whose ends are each one-sided at a level from ``look_levels``, and those
levels sum to alpha / n_family per method over the looks. No joint law of the looks is assumed, so each look
needs only the ordinary one-sample t-test to hold at its n. docs/sequential.md says why, with the numbers.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace

import numpy as np
from scipy import special, stats

from pipeline.stats import _validate
from pipeline.stats.power import paired_t_power

BETTER, WORSE, EQUIVALENT, UNDECIDED = "better", "worse", "equivalent", "undecided"
DEFAULT_FINAL_SHARE = 0.8  # of each error budget kept for the last look; docs/sequential.md compares others


@dataclass(frozen=True)
class Schedule:
    """Paired seeds in rounds: ``start``, then ``step`` more per round, never more than ``max``."""

    start: int
    step: int
    max: int

    def __post_init__(self) -> None:
        # A t interval needs two differences; the last round is cut short if max - start is not a multiple of step.
        _validate.integer(self.start, "start", minimum=2)
        _validate.integer(self.step, "step", minimum=1)
        _validate.integer(self.max, "max", minimum=self.start)

    @property
    def looks(self) -> tuple[int, ...]:
        """The number of seeds at each look: start, start + step, ..., and max as the last."""
        return (*range(self.start, self.max, self.step), self.max)


@dataclass(frozen=True)
class Look:
    """One comparison at one look, over its first ``n`` seeds (differences are method - reference).

    ``[ci_low, ci_high]`` is the repeated interval for better/worse: each end one-sided at ``nominal_alpha``.
    ``[eq_low, eq_high]`` is the narrower one for equivalence (two one-sided tests), each end one-sided at
    ``nominal_alpha_equivalence`` = 2 * ``nominal_alpha``. ``decision`` is the call made at this look.
    """

    n: int
    estimate: float
    std: float
    ci_low: float
    ci_high: float
    nominal_alpha: float
    eq_low: float
    eq_high: float
    nominal_alpha_equivalence: float
    decision: str
    # With futility stopping: the chance, at this look's estimate and spread, that the last look decides; an
    # undecided comparison below the threshold stops here (None: not computed, at the last look or when off).
    decidable: float | None = None
    futile: bool = False


@dataclass(frozen=True)
class SequentialComparison:
    """The decision history of one method (column ``method`` of the differences).

    ``looks`` holds the looks made so far, in order; the last one's decision is the current state.
    ``next_n`` is the number of seeds the next look needs, or None when the comparison is closed
    (decided, or undecided at ``max``).
    """

    method: int
    looks: tuple[Look, ...]
    next_n: int | None

    @property
    def decision(self) -> str:
        return self.looks[-1].decision if self.looks else UNDECIDED

    @property
    def closed(self) -> bool:
        return self.next_n is None

    @property
    def stopped_for_futility(self) -> bool:
        """Closed undecided before the last look: it could not be decided by the schedule's ``max``."""
        return bool(self.looks) and self.looks[-1].futile


@dataclass(frozen=True)
class FixedDesignSeeds:
    """Seeds a fixed (single-look) design would need for an observed effect; None where no n up to the cap does."""

    difference: int | None  # to call better/worse with the two-sided t-test at alpha / n_family
    equivalence: int | None  # to call equivalent with two one-sided tests at alpha / n_family (None if margin 0)


def look_levels(schedule: Schedule, level: float, final_share: float = DEFAULT_FINAL_SHARE) -> np.ndarray:
    """One-sided nominal levels, shape ``(n_looks,)``, that sum to ``level`` over the schedule's looks.

    The last look gets ``final_share * level``; the earlier looks split the rest evenly. By the union bound, a
    one-sided t-test crossing its nominal level at any look has probability at most ``level`` under the null.
    """
    level = _validate.open_unit(level, "level")
    final_share = _validate.open_unit(final_share, "final_share")
    k = len(schedule.looks)
    if k == 1:
        return np.array([level])
    interim = np.full(k - 1, level * (1.0 - final_share) / (k - 1))
    return np.append(interim, level * final_share)


def sequential_decisions(
    differences,
    schedule: Schedule,
    *,
    alpha: float = 0.05,
    margin: float = 0.0,
    n_family: int | None = None,
    final_share: float = DEFAULT_FINAL_SHARE,
    futility: float = 0.0,
) -> list[SequentialComparison]:
    """Decide each method against the reference at every look its seeds reach; one history per column.

    ``differences`` has shape ``(n_seeds, n_methods)``: method - reference on shared seeds, higher is better,
    NaN for seeds not yet run (only after a column's last run seed), n_seeds <= ``schedule.max``. A look is
    made once all its seeds are in; seeds past the last complete look wait for the next one. ``margin`` is
    δ >= 0 (0 turns equivalence off). ``n_family`` is the number of methods in the study (at least the
    columns given; the default is the columns given). At each look, in this order: better if ci_low > 0,
    worse if ci_high < 0, equivalent if -δ < eq_low and eq_high < δ, else undecided. A decided comparison
    gets no further looks, and every look uses only the seeds up to it, so a resumed study decides the same.

    ``futility`` in [0, 1) stops, at a look before the last, a comparison still undecided whose chance of any
    decision at the last look (``decidable``) is below it: its estimate taken as the truth and its spread as the
    spread (conditional power under the current trend). It stays undecided. Stopping never makes a claim, and
    every claim rests on the same repeated intervals whatever stopped the others, so the family-wise error stays
    at most ``alpha`` (non-binding futility; Jennison and Turnbull 2000, section 9.1). 0 turns it off.
    """
    d = _differences(differences, schedule)
    alpha = _validate.open_unit(alpha, "alpha")
    margin = _margin(margin)
    futility = _futility(futility)
    n_methods = d.shape[1]
    n_family = n_methods if n_family is None else _validate.integer(n_family, "n_family", minimum=n_methods)
    # Each end of the better/worse interval spends alpha / (2 n_family); each end of the equivalence interval
    # alpha / n_family: at any true difference, every false claim open to it misses the same end (docs).
    sides = look_levels(schedule, alpha / (2 * n_family), final_share)
    looks = schedule.looks
    # isf, not ppf: an early look's level can be ~1e-5, where 1 - level loses digits.
    df = np.asarray(looks) - 1
    wide, narrow = stats.t.isf(sides, df), stats.t.isf(2.0 * sides, df)
    available = _seeds_run(d)
    histories: list[list[Look]] = [[] for _ in range(n_methods)]
    open_ = np.ones(n_methods, dtype=bool)
    for k, n in enumerate(looks):
        cols = np.flatnonzero(open_ & (available >= n))
        if cols.size == 0:
            continue
        crit = (sides[k], wide[k], narrow[k])
        for col, look in zip(cols, _look(d[:n, cols], crit, margin), strict=True):
            if futility > 0 and look.decision == UNDECIDED and k < len(looks) - 1:
                final = (looks[-1], wide[-1], narrow[-1])
                chance = decidable(look.estimate, look.std, n, final, margin)
                look = replace(look, decidable=chance, futile=chance < futility)
            histories[col].append(look)
            open_[col] = look.decision == UNDECIDED and not look.futile and k < len(looks) - 1
    return [
        SequentialComparison(method=j, looks=tuple(h), next_n=_next_n(h, looks, open_[j]))
        for j, h in enumerate(histories)
    ]


def _look(x: np.ndarray, crit: tuple[float, float, float], margin: float) -> list[Look]:
    """The looks of the columns of ``x`` (shape ``(n, n_open)``, all seeds in).

    ``crit`` is (one-sided level of each end, its t critical value, the critical value at twice the level).
    """
    side, wide, narrow = crit
    n = x.shape[0]
    est = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1)
    se = sd / np.sqrt(n)
    lo, hi, eq_lo, eq_hi = est - wide * se, est + wide * se, est - narrow * se, est + narrow * se
    decision = np.full(est.shape, UNDECIDED, dtype=object)
    if margin > 0.0:
        decision[(eq_lo > -margin) & (eq_hi < margin)] = EQUIVALENT
    decision[hi < 0.0] = WORSE
    decision[lo > 0.0] = BETTER  # a sign is the stronger claim, so it wins over equivalent
    return [
        Look(
            n=n,
            estimate=float(est[i]),
            std=float(sd[i]),
            ci_low=float(lo[i]),
            ci_high=float(hi[i]),
            nominal_alpha=float(side),
            eq_low=float(eq_lo[i]),
            eq_high=float(eq_hi[i]),
            nominal_alpha_equivalence=float(2.0 * side),
            decision=str(decision[i]),
        )
        for i in range(est.size)
    ]


def decidable(estimate: float, std: float, n: int, final: tuple[int, float, float], margin: float) -> float:
    """The chance that the last look, at ``final`` = (its seeds N, its t critical values for better/worse and for
    equivalence), makes any decision, given ``n`` seeds so far with this ``estimate`` and ``std``: the remaining
    N - n differences drawn with mean ``estimate`` and sd ``std``, and the last look's spread taken as ``std``.

    The final estimate is then normal around ``estimate`` with sd ``std * sqrt(N - n) / N``; it decides outside
    [-h, h] (better or worse, h = t * std / sqrt(N)) and inside (-e, e) (equivalent, e = margin - t_eq * std /
    sqrt(N)). Only the last look is counted, so the chance of a decision at some look is at least this."""
    total, wide, narrow = final
    if not (np.isfinite(estimate) and np.isfinite(std)) or std <= 0:
        return 1.0  # no spread: the next look decides whatever it sees
    spread = std * np.sqrt(total - n) / total
    h = wide * std / np.sqrt(total)
    e = margin - narrow * std / np.sqrt(total) if margin > 0 else 0.0
    if e >= h:
        return 1.0

    def cdf(x: float) -> float:  # the final estimate's; ndtr, as a frozen scipy distribution costs 100x more
        return float(special.ndtr((x - estimate) / max(spread, 1e-300)))

    undecided = cdf(h) - cdf(-h)
    if e > 0:
        undecided -= cdf(e) - cdf(-e)
    return min(1.0, max(0.0, 1.0 - undecided))


def _futility(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"futility must be a number in [0, 1) (0 turns it off), got futility={value!r}")
    return float(value)


def _next_n(history: list[Look], looks: tuple[int, ...], still_open: bool) -> int | None:
    if not still_open:
        return None
    return looks[len(history)]


def _seeds_run(d: np.ndarray) -> np.ndarray:
    """Seeds run per column, shape ``(n_methods,)``: the length of each column's leading run of numbers."""
    finite = np.isfinite(d)
    leading = np.cumprod(finite, axis=0).sum(axis=0)
    bad = np.flatnonzero(leading != finite.sum(axis=0))
    if bad.size:
        raise ValueError(
            f"differences must hold each column's seeds in order, NaN only after its last run seed; column "
            f"{int(bad[0])} has a number after a NaN"
        )
    return leading


def _differences(differences, schedule: Schedule) -> np.ndarray:
    d = _validate.matrix_with_gaps(differences, "differences", "(n_seeds, n_methods >= 1)")
    if d.shape[0] > schedule.max:
        raise ValueError(f"differences has {d.shape[0]} seeds (rows) but the schedule stops at max={schedule.max}")
    return d


def _margin(margin) -> float:
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not 0.0 <= float(margin) < np.inf:
        raise ValueError(f"margin must be a finite number >= 0, got margin={margin!r}")
    return float(margin)


def fixed_design_seeds(
    estimate: float,
    std: float,
    *,
    alpha: float = 0.05,
    n_family: int = 1,
    margin: float = 0.0,
    power: float = 0.8,
    max_n: int = 100_000,
) -> FixedDesignSeeds:
    """Seeds a one-look design would need to settle an observed effect (e.g. the last look of an undecided one).

    ``estimate`` and ``std`` are the mean and sample std of the paired differences. ``difference`` is the
    smallest n at which the two-sided paired t-test at alpha / n_family has ``power`` for d_z = estimate / std.
    ``equivalence`` is the smallest n at which two one-sided tests at alpha / n_family show |difference| < margin
    with at least ``power`` (a lower bound on their joint power, so n errs high); None if |estimate| >= margin.
    Both treat the observed effect as the truth, so they are a guide, not a promise.
    """
    level = _validate.open_unit(alpha, "alpha") / _validate.integer(n_family, "n_family", minimum=1)
    margin = _margin(margin)
    target = _validate.open_unit(power, "power")
    max_n = _validate.integer(max_n, "max_n", minimum=2)
    if not (np.isfinite(estimate) and np.isfinite(std) and std > 0):
        raise ValueError(f"estimate must be finite and std finite and > 0, got estimate={estimate!r}, std={std!r}")
    d_z = estimate / std

    def difference_power(n: int) -> float:
        return paired_t_power(n, d_z, level)

    def equivalence_power(n: int) -> float:
        # P(both one-sided tests reject) >= P(lower rejects) + P(upper rejects) - 1.
        lower = paired_t_power(n, (estimate + margin) / std, level, "greater")
        upper = paired_t_power(n, (estimate - margin) / std, level, "less")
        return lower + upper - 1.0

    equivalence = None
    if abs(estimate) < margin:
        equivalence = _smallest_n(equivalence_power, target, max_n)
    difference = None if d_z == 0.0 else _smallest_n(difference_power, target, max_n)
    return FixedDesignSeeds(difference=difference, equivalence=equivalence)


def _smallest_n(power_at, target: float, max_n: int) -> int | None:
    """Smallest n in [2, max_n] with power_at(n) >= target, for a power that grows with n; None if none."""
    if power_at(max_n) < target:
        return None
    lo, hi = 1, max_n  # invariant: lo is not enough (or below 2), hi is enough
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi
