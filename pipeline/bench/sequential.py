"""`sam-study bench sequential`: what deciding after each round of seeds saves, by simulation.

For Gaussian paired differences at effects of 0, 0.5δ, δ, 2δ and 4δ and realistic seed-to-seed stds, it runs
``sequential_decisions`` (``pipeline/stats/sequential.py``) and reports per cell the probability of each decision
and the seeds spent, next to two fixed (single-look) designs: one with ``max`` seeds (its P(reject) by the
two-sided paired t-test at α / n_family, on the same draws), and one with n*, the fewest seeds at which that
t-test has the power the sequential procedure reaches (its P(better)), from ``pipeline/stats/power.py``. On the same
draws it runs the sequential procedure again with futility stopping (``--futility``, default 0.1), and reports its
decisions, its seeds, and how often it stopped a comparison as undecidable.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy
from scipy import stats

from pipeline.stats.power import seeds_for_power
from pipeline.stats.sequential import BETTER, EQUIVALENT, UNDECIDED, WORSE, Schedule, sequential_decisions

DELTA = 0.005  # the margin δ: half a point of accuracy
EFFECTS = (0.0, 0.5, 1.0, 2.0, 4.0)  # true mean differences, in units of δ
DECISIONS = (BETTER, WORSE, EQUIVALENT, UNDECIDED)


@dataclass(frozen=True)
class Cell:
    """One (family, std, effect) cell: decision probabilities and seeds per comparison, and the fixed designs."""

    n_family: int
    std: float
    effect: float  # true mean difference (method - reference)
    comparisons: int
    probability: dict[str, float]  # decision -> share of comparisons
    mean_seeds: float
    p90_seeds: float
    fixed_max_reject: float  # P(two-sided t-test at alpha / n_family rejects) with schedule.max seeds
    same_power_seeds: int | None  # n* with the sequential P(better) as power; None where there is no sign to find
    same_power_is_bound: bool  # P(better) was 1: n* is for the power 1 - 3 / comparisons, a lower bound on n*
    futility: float = 0.0  # the threshold of the run with futility stopping (0: not run)
    futility_probability: dict[str, float] | None = None  # decision -> share, with futility stopping
    futility_mean_seeds: float | None = None
    futility_stopped: float | None = None  # share of comparisons stopped as undecidable

    @property
    def d_z(self) -> float:
        return self.effect / self.std


def simulate_cell(
    rng: np.random.Generator,
    *,
    effect: float,
    std: float,
    schedule: Schedule,
    alpha: float,
    margin: float,
    n_family: int,
    replications: int,
    futility: float = 0.0,
) -> Cell:
    """Run ``replications`` comparisons (rounded up to a multiple of ``n_family``) of one cell, and again on the
    same draws with futility stopping at ``futility`` (when above 0).

    The methods of a family are independent columns of one call, so a family of m gives m comparisons per call,
    each decided at alpha / m. Each comparison spends the seeds of its last look.
    """
    calls = -(-replications // n_family)
    draws = rng.normal(effect, std, size=(calls, schedule.max, n_family))
    settings = {"alpha": alpha, "margin": margin, "n_family": n_family}
    decisions, seeds, _ = _decide(draws, schedule, settings, 0.0)
    with_futility = {}
    if futility > 0:
        stopped_decisions, stopped_seeds, stopped = _decide(draws, schedule, settings, futility)
        with_futility = {
            "futility": futility,
            "futility_probability": {d: float(np.mean(stopped_decisions == d)) for d in DECISIONS},
            "futility_mean_seeds": float(stopped_seeds.mean()),
            "futility_stopped": float(stopped.mean()),
        }
    # The fixed design at max sees the same draws, so the two columns differ by the design, not by chance.
    p_values = stats.ttest_1samp(draws, 0.0, axis=1).pvalue
    probability = {d: float(np.mean(decisions == d)) for d in DECISIONS}
    return Cell(
        n_family=n_family,
        std=std,
        effect=effect,
        comparisons=decisions.size,
        probability=probability,
        mean_seeds=float(seeds.mean()),
        p90_seeds=float(np.percentile(seeds, 90)),
        fixed_max_reject=float(np.mean(p_values < alpha / n_family)),
        same_power_seeds=_same_power_seeds(probability[BETTER], effect / std, alpha / n_family, decisions.size),
        same_power_is_bound=probability[BETTER] == 1.0,
        **with_futility,
    )


def _decide(
    draws: np.ndarray, schedule: Schedule, settings: dict, futility: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every comparison's decision, seeds spent, and whether futility stopped it."""
    decisions, seeds, stopped = [], [], []
    for x in draws:
        for comparison in sequential_decisions(x, schedule, futility=futility, **settings):
            decisions.append(comparison.decision)
            seeds.append(comparison.looks[-1].n)
            stopped.append(comparison.stopped_for_futility)
    return np.array(decisions), np.array(seeds), np.array(stopped)


def _same_power_seeds(power: float, d_z: float, level: float, comparisons: int) -> int | None:
    """n*: the fewest seeds at which the fixed two-sided t-test at ``level`` has ``power``; None at effect 0."""
    if d_z <= 0.0 or power == 0.0:
        return None
    # No miss in N comparisons still leaves a power below 1 possible: 1 - 3/N is its 95% lower bound (rule of
    # three), so n* at that power is a lower bound on the true n*.
    return seeds_for_power(d_z, level, min(power, 1.0 - 3.0 / comparisons))


def run(
    seed: int,
    replications: int,
    schedule: Schedule,
    *,
    alpha: float,
    margin: float,
    stds: Sequence[float],
    families: Sequence[int],
    futility: float = 0.0,
) -> list[Cell]:
    """Every cell, families outermost; each cell draws from its own stream spawned from ``seed``."""
    grid = [(m, s, e) for m in families for s in stds for e in EFFECTS]
    streams = np.random.SeedSequence(seed).spawn(len(grid))
    return [
        simulate_cell(
            np.random.default_rng(stream),
            effect=e * margin,
            std=s,
            schedule=schedule,
            alpha=alpha,
            margin=margin,
            n_family=m,
            replications=replications,
            futility=futility,
        )
        for (m, s, e), stream in zip(grid, streams, strict=True)
    ]


def markdown(cells: Sequence[Cell], schedule: Schedule, margin: float) -> str:
    """The table: one row per cell, sequential columns first, then the two fixed designs."""
    top = schedule.max
    futility = next((c.futility for c in cells if c.futility), 0.0)
    extra = (
        f" with futility {futility:g}: P(better) | P(worse) | P(equivalent) | mean seeds | P(stopped) |"
        if futility
        else ""
    )
    lines = [
        f"| family | std | effect | d_z | P(better) | P(worse) | P(equivalent) | P(undecided) | mean seeds "
        f"| p90 seeds | fixed n={top}: P(reject) | fixed n* at the same power | mean seeds / n* | mean seeds / {top} |"
        + extra,
        "|---:|---:|---|" + "---:|" * (11 + (5 if futility else 0)),
    ]
    for c in cells:
        p = c.probability
        n_star, ratio = "—", "—"
        if c.same_power_seeds is not None:
            bound = ("≥ ", "≤ ") if c.same_power_is_bound else ("", "")
            n_star = f"{bound[0]}{c.same_power_seeds}"
            ratio = f"{bound[1]}{c.mean_seeds / c.same_power_seeds:.2f}"
        lines.append(
            f"| {c.n_family} | {c.std:g} | {c.effect / margin:g}δ | {c.d_z:.2f} | {p[BETTER]:.3f} | {p[WORSE]:.3f} "
            f"| {p[EQUIVALENT]:.3f} | {p[UNDECIDED]:.3f} | {c.mean_seeds:.1f} | {c.p90_seeds:g} "
            f"| {c.fixed_max_reject:.3f} | {n_star} | {ratio} | {c.mean_seeds / top:.2f} |" + _futility_cells(c)
        )
    return "\n".join(lines)


def _futility_cells(c: Cell) -> str:
    if not c.futility or c.futility_probability is None:
        return ""
    p = c.futility_probability
    return (
        f" {p[BETTER]:.3f} | {p[WORSE]:.3f} | {p[EQUIVALENT]:.3f} | {c.futility_mean_seeds:.1f} "
        f"| {c.futility_stopped:.3f} |"
    )


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sam-study bench sequential", description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=10_000, help="comparisons per cell")
    parser.add_argument("--seed", type=int, default=0, help="seeds every cell's random stream")
    parser.add_argument("--start", type=int, default=5)
    parser.add_argument("--step", type=int, default=5)
    parser.add_argument("--max", type=int, default=40)
    parser.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate")
    parser.add_argument("--margin", type=float, default=DELTA, help="δ; effects are multiples of it")
    parser.add_argument("--stds", type=_floats, default=[0.005, 0.01], help="seed-to-seed stds of the difference")
    parser.add_argument("--families", type=_ints, default=[1, 10], help="methods in the family (Bonferroni)")
    parser.add_argument(
        "--futility", type=float, default=0.1, help="futility threshold of the second run on the same draws (0: none)"
    )
    args = parser.parse_args(argv)
    schedule = Schedule(args.start, args.step, args.max)
    began = time.perf_counter()
    cells = run(
        args.seed,
        args.replications,
        schedule,
        alpha=args.alpha,
        margin=args.margin,
        stds=args.stds,
        families=args.families,
        futility=args.futility,
    )
    wall = time.perf_counter() - began
    command = " ".join(["sam-study bench sequential", *(argv if argv is not None else sys.argv[1:])])
    print(f"# Sequential decisions against fixed designs: {schedule}, α = {args.alpha}, δ = {args.margin}\n")
    print(f"Command: `{command}`; {args.replications} comparisons per cell, seed {args.seed}.")
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}), python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}.\n"
    )
    print(markdown(cells, schedule, args.margin))
    print(f"\nWall time: {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
