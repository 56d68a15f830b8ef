"""The split of a paired difference's spread into its per-example (test-set) and between-run parts, checked on
simulated correctness matrices whose parts are known exactly.

The simulated task: n test examples, each with a difficulty shared by both methods (the same examples are hard for
both), and per seed a run effect on each method's logits (how good that seed's model is as a whole), correlated
between the two methods of a pair. Given the run effects, each prediction is right or wrong independently. The parts
on this fixed test set follow in closed form from the model, by Gauss-Hermite quadrature over the run effects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from pipeline.stats.variance_split import VarianceSplit, split_variance

REPLICATES = 400


@dataclass(frozen=True)
class Task:
    examples: int
    run_sd: float  # the sd of a run's effect on its method's logits
    correlation: float  # between the run effects of a pair's two methods
    gap: float = 0.15  # the method's logits above the reference's, on every example

    def difficulties(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        reference = rng.normal(2.5, 1.5, self.examples)
        return reference + self.gap + rng.normal(0, 0.3, self.examples), reference

    def run_effects(self, rng: np.random.Generator, seeds: int) -> np.ndarray:
        cov = self.run_sd**2 * np.array([[1, self.correlation], [self.correlation, 1]])
        return rng.multivariate_normal([0, 0], cov, size=seeds)  # (seeds, 2)

    def outcomes(self, rng: np.random.Generator, logits: tuple[np.ndarray, np.ndarray], seeds: int):
        effects = self.run_effects(rng, seeds)
        method = rng.random((seeds, self.examples)) < _sigmoid(logits[0] + effects[:, :1])
        reference = rng.random((seeds, self.examples)) < _sigmoid(logits[1] + effects[:, 1:])
        return method.astype(float), reference.astype(float)

    def truth(self, logits: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
        """(total, per-example part) of the variance over runs of the mean paired difference on this test set."""
        nodes, weights = np.polynomial.hermite_e.hermegauss(40)
        weights = weights / weights.sum()
        z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
        a = self.run_sd * z1.ravel()
        b = self.run_sd * (self.correlation * z1.ravel() + math.sqrt(1 - self.correlation**2) * z2.ravel())
        w = np.outer(weights, weights).ravel()
        p = _sigmoid(logits[0][None, :] + a[:, None])  # (quadrature points, examples)
        q = _sigmoid(logits[1][None, :] + b[:, None])
        mean_x = w @ (p - q)
        mean_x2 = w @ (p + q - 2 * p * q)
        per_example = float((mean_x2 - mean_x**2).sum() / self.examples**2)
        m = (p - q).mean(axis=1)  # the mean difference given the run effects
        within = ((p * (1 - p) + q * (1 - q)).sum(axis=1)) / self.examples**2
        total = float(w @ (m - w @ m) ** 2 + w @ within)
        return total, per_example


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _binomial_split(method: np.ndarray, reference: np.ndarray) -> VarianceSplit:
    """A deliberately wrong per-example part: each method's accuracy as one binomial proportion, as if every
    example were equally hard and the two methods' errors unrelated."""
    right = split_variance(method, reference)
    n = method.shape[1]
    accuracy = method.mean(), reference.mean()
    per_example = float(sum(p * (1 - p) for p in accuracy) / n)
    margin = right.per_example_interval[1] - right.per_example
    return VarianceSplit(**{
        **right.__dict__,
        "per_example": per_example,
        "per_example_interval": (per_example - margin, per_example + margin),
    })  # fmt: skip


def coverage(task: Task, seeds: int, procedure=split_variance, replicates: int = REPLICATES) -> dict[str, float]:
    rng = np.random.default_rng(20261207)
    logits = task.difficulties(rng)
    total, per_example = task.truth(logits)
    truths = {"total": total, "per_example": per_example, "between": total - per_example}
    truths["share"] = per_example / total
    hits = dict.fromkeys(truths, 0)
    estimates = {name: [] for name in ("total", "per_example", "between")}
    for _ in range(replicates):
        split = procedure(*task.outcomes(rng, logits, seeds))
        for name, truth in truths.items():
            low, high = getattr(split, f"{name}_interval")
            hits[name] += low <= truth <= high
        for name in estimates:
            estimates[name].append(getattr(split, name))
    result = {f"coverage_{name}": hits[name] / replicates for name in hits}
    result |= {f"bias_{name}": float(np.mean(v)) / truths[name] - 1 for name, v in estimates.items()}
    return result | {f"truth_{name}": value for name, value in truths.items()}


TEST_SET_HEAVY = Task(examples=1000, run_sd=0.05, correlation=0.3)  # as on MNIST-1D's standard test set
BALANCED = Task(examples=1000, run_sd=0.125, correlation=0.3)  # both parts of similar size
RUN_HEAVY = Task(examples=20000, run_sd=0.25, correlation=0.0)  # mostly between runs: a large test set


@pytest.mark.parametrize(
    ("task", "seeds"),
    [(TEST_SET_HEAVY, 5), (TEST_SET_HEAVY, 15), (BALANCED, 5), (BALANCED, 15), (RUN_HEAVY, 5)],
    ids=["test-set-heavy-5", "test-set-heavy-15", "balanced-5", "balanced-15", "run-heavy-5"],
)
def test_the_split_recovers_known_parts_within_its_intervals_at_the_stated_rate(task: Task, seeds: int) -> None:
    seen = coverage(task, seeds)
    for name in ("total", "per_example", "between", "share"):
        assert seen[f"coverage_{name}"] >= 0.92, seen  # stated 0.95; 400 replicates give ± 0.011 (one sd)
    assert abs(seen["bias_per_example"]) < 0.02 and abs(seen["bias_total"]) < 0.06, seen


def test_a_binomial_per_example_part_fails_the_same_check() -> None:
    seen = coverage(TEST_SET_HEAVY, seeds=15, procedure=_binomial_split)
    assert seen["coverage_per_example"] < 0.5, seen


def test_the_lever_is_the_test_set_or_the_seeds_as_the_parts_say() -> None:
    rng = np.random.default_rng(7)
    heavy_test_set = Task(examples=1000, run_sd=0.02, correlation=0.3)
    split = split_variance(*heavy_test_set.outcomes(rng, heavy_test_set.difficulties(rng), 40))
    assert split.lever() == "test set" and split.share > 0.6
    heavy_runs = Task(examples=50000, run_sd=0.4, correlation=0.0)
    split = split_variance(*heavy_runs.outcomes(rng, heavy_runs.difficulties(rng), 40))
    assert split.lever() == "seeds" and split.share < 0.4


def test_projections_shrink_the_part_they_act_on() -> None:
    rng = np.random.default_rng(11)
    task = Task(examples=1000, run_sd=0.1, correlation=0.3)
    split = split_variance(*task.outcomes(rng, task.difficulties(rng), 10))
    now = split.projected_half_width()
    t = 2.262157  # t_{0.975, 9}
    assert now == pytest.approx(t * math.sqrt(split.total / 10))
    assert split.projected_half_width(seeds=40) < now and split.projected_half_width(test_factor=50) < now
    floor = t * math.sqrt(max(split.between, 0) / 10)
    assert split.projected_half_width(test_factor=1e9) == pytest.approx(floor, rel=1e-3)


def test_bad_input_is_refused_naming_the_problem() -> None:
    with pytest.raises(ValueError, match="same seeds and examples"):
        split_variance(np.ones((4, 10)), np.ones((4, 9)))
    with pytest.raises(ValueError):
        split_variance(np.ones((2, 10)), np.ones((2, 10)))  # two seeds leave no jackknife
    with pytest.raises(ValueError, match="seeds must be at least 2"):
        split_variance(np.eye(4), np.zeros((4, 4))).projected_half_width(seeds=1)
