"""The sequential decisions' error claims, by simulation through the real decision code and round schedule.

Accuracies of the reference and of each method are drawn per seed (so every method's differences share the
reference's noise, as in a study), in three kinds: Gaussian, heavy-tailed (Student t, 3 df), and Gaussian with
diverged runs (5% of runs of either arm score chance level, 0.1, against ~0.97). Every check allows three Monte
Carlo standard errors; the naive procedure (a plain t-test after every round) fails the same check.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import Schedule, sequential_decisions

pytestmark = pytest.mark.slow  # about 30 s in all on 2 loaded cores

ALPHA = 0.05
SCHEDULE = Schedule(start=5, step=5, max=40)
REPS = 4000
SIGMA = 0.005  # seed-to-seed std of one arm's accuracy
KINDS = ("gaussian", "heavy-tailed", "diverged")


def _tolerance(rate: float, reps: int) -> float:
    return rate + 3.0 * np.sqrt(rate * (1.0 - rate) / reps)


def _differences(rng, kind: str, reps: int, n_methods: int, shift: float = 0.0, sigma: float = SIGMA) -> np.ndarray:
    """Paired differences method - reference, shape ``(reps, max, n_methods)``; true mean difference ``shift``."""
    shape = (reps, SCHEDULE.max, n_methods + 1)  # column 0 is the reference
    if kind == "heavy-tailed":
        accuracy = 0.97 + sigma * rng.standard_t(3, size=shape)
    else:
        accuracy = 0.97 + rng.normal(0.0, sigma, size=shape)
    if kind == "diverged":
        # The same divergence rate in both arms keeps the mean difference at `shift`.
        accuracy = np.where(rng.random(shape) < 0.05, 0.1, accuracy)
    accuracy[..., 1:] += shift
    return accuracy[..., 1:] - accuracy[..., :1]


def _decisions(d: np.ndarray, **kwargs) -> np.ndarray:
    """The final decision of every comparison, shape ``(reps, n_methods)``, from the real decision code."""
    return np.array([[c.decision for c in sequential_decisions(study, SCHEDULE, **kwargs)] for study in d])


def _naive_false_claims(d: np.ndarray, alpha_per_method: float) -> np.ndarray:
    """Whether a two-sided t-test at ``alpha_per_method`` after every round claims anything, shape ``(reps,)``."""
    claims = np.zeros(d.shape[0], dtype=bool)
    for n in SCHEDULE.looks:
        p = stats.ttest_1samp(d[:, :n], 0.0, axis=1).pvalue  # (reps, n_methods)
        claims |= (p < alpha_per_method).any(axis=1)
    return claims


@pytest.mark.parametrize("futility", [0.0, 0.2], ids=["no-futility", "futility-0.2"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_methods", [1, 10])
def test_family_wise_error_of_null_methods_is_at_most_alpha(kind, n_methods, futility):
    rng = np.random.default_rng(20260 + 10 * n_methods + KINDS.index(kind))
    d = _differences(rng, kind, REPS, n_methods)
    # margin 0: no comparison can stop early as equivalent, the hardest case for better/worse errors.
    decisions = _decisions(d, alpha=ALPHA, margin=0.0, n_family=n_methods, futility=futility)
    rate = np.isin(decisions, ("better", "worse")).any(axis=1).mean()
    assert rate <= _tolerance(ALPHA, REPS), f"{kind}, {n_methods} methods: false better/worse rate {rate:.4f}"


@pytest.mark.parametrize("n_methods", [1, 10])
def test_the_naive_procedure_fails_the_same_check(n_methods):
    # A t-test after every round at alpha / n_methods (Bonferroni over methods, none over looks): the same
    # data that the real procedure passes on give it about four times the error allowed.
    rng = np.random.default_rng(20260 + 10 * n_methods)
    d = _differences(rng, "gaussian", REPS, n_methods)
    rate = _naive_false_claims(d, ALPHA / n_methods).mean()
    assert rate > _tolerance(ALPHA, REPS), f"naive, {n_methods} methods: false claim rate {rate:.4f}"


@pytest.mark.parametrize("futility", [0.0, 0.2], ids=["no-futility", "futility-0.2"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_false_equivalence_at_the_margin_is_at_most_alpha(sign, futility):
    # True difference exactly ±δ, so "equivalent" is false. The differences' std is 2δ, where the false rate
    # peaks (measured over std δ/4 ... 6δ): a smaller std calls it better/worse first, a larger one never narrows.
    margin = 0.01
    rng = np.random.default_rng(20270 if sign > 0 else 20271)
    d = _differences(rng, "gaussian", REPS, 1, shift=sign * margin, sigma=2 * margin / np.sqrt(2))
    decisions = _decisions(d, alpha=ALPHA, margin=margin, n_family=1, futility=futility)
    rate = (decisions == "equivalent").mean()
    assert rate <= _tolerance(ALPHA, REPS), f"difference {sign * margin:+}: false equivalent rate {rate:.4f}"


def test_calling_a_futile_comparison_equivalent_fails_the_same_check():
    # A deliberately wrong use of futility: a comparison stopped because it cannot be decided, whose estimate
    # lies within the margin, called equivalent. At a true difference of δ this claims equivalence falsely far
    # more often than α allows.
    margin = 0.01
    rng = np.random.default_rng(20270)
    d = _differences(rng, "gaussian", REPS, 1, shift=margin, sigma=2 * margin / np.sqrt(2))
    wrong = 0
    for study in d:
        [c] = sequential_decisions(study, SCHEDULE, alpha=ALPHA, margin=margin, futility=0.2)
        last = c.looks[-1]
        wrong += c.decision == "equivalent" or (c.stopped_for_futility and abs(last.estimate) < margin)
    assert wrong / REPS > _tolerance(ALPHA, REPS), f"futile-as-equivalent rate {wrong / REPS:.4f}"


def test_futility_stops_what_cannot_be_decided_and_spares_what_can():
    # Undecidable within 40 seeds: a true difference of δ/2 with the differences' std 4δ (neither a sign nor
    # equivalence is within reach). Decidable: a difference of 2δ with std δ.
    margin = 0.01
    rng = np.random.default_rng(20290)
    hopeless = _differences(rng, "gaussian", 1000, 1, shift=margin / 2, sigma=4 * margin / np.sqrt(2))
    clear = _differences(rng, "gaussian", 1000, 1, shift=2 * margin, sigma=margin / np.sqrt(2))

    def run(d: np.ndarray, futility: float) -> tuple[float, float, float]:
        res = [sequential_decisions(s, SCHEDULE, alpha=ALPHA, margin=margin, futility=futility)[0] for s in d]
        seeds = np.mean([c.looks[-1].n for c in res])
        decided = np.mean([c.decision != "undecided" for c in res])
        return seeds, decided, np.mean([c.stopped_for_futility for c in res])

    off, on = run(hopeless, 0.0), run(hopeless, 0.2)
    assert off[0] > 38 and off[1] < 0.2, off  # without futility nearly all run to max and stay undecided
    assert on[0] <= 20 and on[2] >= 0.8, on  # measured: 16.1 seeds on average, 90% stopped as undecidable
    clear_off, clear_on = run(clear, 0.0), run(clear, 0.2)
    assert clear_on[1] >= clear_off[1] - 0.01 and clear_on[2] <= 0.01, (clear_off, clear_on)


def test_false_equivalence_over_a_family_at_the_margin():
    margin = 0.01
    rng = np.random.default_rng(20272)
    d = _differences(rng, "gaussian", 1000, 10, shift=margin, sigma=2 * margin / np.sqrt(2))
    decisions = _decisions(d, alpha=ALPHA, margin=margin, n_family=10)
    rate = np.isin(decisions, ("equivalent", "worse")).any(axis=1).mean()
    assert rate <= _tolerance(ALPHA, 1000)


@pytest.mark.parametrize("n_methods", [1, 10])
def test_an_effect_of_twice_the_margin_is_found(n_methods):
    # Effect 2δ with the differences' std δ (d_z = 2): decided better by max nearly always, well before it.
    margin = 0.01
    rng = np.random.default_rng(20280 + n_methods)
    d = _differences(rng, "gaussian", 300, n_methods, shift=2 * margin, sigma=margin / np.sqrt(2))
    results = [sequential_decisions(study, SCHEDULE, alpha=ALPHA, margin=margin) for study in d]
    better = np.mean([c.decision == "better" for res in results for c in res])
    seeds = np.mean([c.looks[-1].n for res in results for c in res])
    assert better >= 0.95
    assert seeds <= 20  # measured: ~10 seeds for one method, ~13 for a family of ten
