"""Reproducible suggestions: a trial's values depend on its index and the results before its batch only."""

from __future__ import annotations

from optuna.distributions import FloatDistribution

from pipeline.study.batch_search import Batches, suggest

SPACE = {"rho": FloatDistribution(0.01, 1.0, log=True)}


def test_batches_start_after_the_random_start() -> None:
    batches = Batches(startup=3, parallel=2)
    assert [batches.first_of_batch(i) for i in range(8)] == [0, 0, 0, 3, 3, 5, 5, 7]


def test_the_same_history_gives_the_same_values_and_the_random_start_ignores_results() -> None:
    start = [suggest(SPACE, 7, i, [], startup=3) for i in range(3)]
    assert len({p["rho"] for p in start}) == 3  # independent draws, one per index
    assert start == [suggest(SPACE, 7, i, [], startup=3) for i in range(3)]
    seen = [(p, score) for p, score in zip(start, [0.5, 0.9, 0.7], strict=True)]
    after = suggest(SPACE, 7, 3, seen, startup=3)
    assert after == suggest(SPACE, 7, 3, list(seen), startup=3)
    assert after != suggest(SPACE, 8, 3, seen, startup=3)  # and its seed
    failed = suggest(SPACE, 7, 3, [*seen[:2], (start[2], None)], startup=3)
    assert 0.01 <= failed["rho"] <= 1.0


def test_tpe_follows_the_results_it_is_given() -> None:
    start = [suggest(SPACE, 1, i, [], startup=10) for i in range(10)]
    rewards_large = [(p, p["rho"]) for p in start]
    rewards_small = [(p, -p["rho"]) for p in start]
    assert (
        suggest(SPACE, 1, 10, rewards_large, startup=10)["rho"]
        > suggest(SPACE, 1, 10, rewards_small, startup=10)["rho"]
    )
