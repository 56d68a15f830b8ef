"""Reproducible Optuna suggestions: trial ``i`` of a search is a pure function of the search's seed, ``i`` and
the results of the trials before ``i``'s batch, never of which trial happened to finish first.

A search runs in batches. The first ``startup`` trials are the random start (TPE's independent sampling); after
it, trials come in batches of ``parallel``, and every trial of a batch is suggested by a fresh seeded
``TPESampler`` that has seen exactly the trials before the batch, in index order. So an interrupted study that is
run again suggests the same values for the same trial indices, and its trials table equals that of an
uninterrupted run; and ``parallel`` (not the cluster's size) fixes what a search sees, so the results do not
depend on how many trials ran at once. The price: a batch waits for the slowest trial of the batch before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState, create_trial

from pipeline.seeding import suggestion_seed
from pipeline.study.search_space import to_native

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Batches:
    startup: int  # the random start: one batch that sees no result
    parallel: int  # trials per later batch

    def first_of_batch(self, index: int) -> int:
        """The index of the first trial in ``index``'s batch: the trials before it are what ``index`` sees."""
        if index < self.startup:
            return 0
        return self.startup + (index - self.startup) // self.parallel * self.parallel


def suggest(
    space: dict[str, BaseDistribution],
    seed: int,
    index: int,
    seen: list[tuple[dict[str, Any], float | None]],
    startup: int,
) -> dict[str, Any]:
    """The values of trial ``index``: ``seen`` holds (params, objective or None for a failed trial) of every trial
    before its batch, in index order. The objective is maximised."""
    sampler = optuna.samplers.TPESampler(seed=suggestion_seed(seed, index), n_startup_trials=startup)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for params, value in seen:
        state = TrialState.FAIL if value is None else TrialState.COMPLETE
        study.add_trial(create_trial(params=params, distributions=space, value=value, state=state))
    return to_native(study.ask(space).params)
