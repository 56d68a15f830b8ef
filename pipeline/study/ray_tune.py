"""Ray Tune: the only module that imports it.

Two kinds of Tune run make a study:
- ``run_searches``: the tuning phase. One Tuner runs every tuned method's Optuna search at once, so the
  workers stay busy: ``_BatchSearches`` hands each new trial to a search whose next batch is ready, and
  each search suggests with a seeded TPE sampler that maximises validation accuracy, in batches whose
  suggestions do not depend on completion order (``batch_search``). A search resumed from the trials table
  gets its finished trials back by index, so it suggests what an uninterrupted search would have.
- ``run_plans``: a fixed list of trials (the evaluation grid, method x seed).

Every trial runs ``_trial_function`` in a Ray worker: ``run_trial`` with per-epoch ``tune.report`` and
MLflow logging. The driver's ``_Recorder`` callback turns each finished trial into a trials-table row
the moment it finishes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import Searcher

from pipeline.study.batch_search import Batches, suggest
from pipeline.study.outcome import TrialOutcome
from pipeline.study.plan import TrialPlan
from pipeline.study.ray_cluster import node_label
from pipeline.study.trial_process import METRIC, run_planned_trial

log = logging.getLogger(__name__)


def _trial_function(config: dict[str, Any]) -> None:
    plan = TrialPlan.from_dict(config["plan"])
    if plan.workers > 1:
        # Imported here: only data-parallel trials need Ray Train. Rank 0's reports reach Tune through it.
        from ray.tune.integration.ray_train import TuneReportCallback

        from pipeline.study import ray_train

        ray_train.run_data_parallel(plan, TuneReportCallback())
        return
    torch.set_num_threads(plan.threads)
    run_planned_trial(plan, tune.report, node_label())


# -------------------------------------------------------------------------------- the driver side


class _Recorder(tune.Callback):
    def __init__(self, on_outcome: Callable[[TrialOutcome], None]) -> None:
        self.on_outcome = on_outcome

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its run config, callbacks included, into tuner.pkl for Tuner.restore, which a study never
        # uses (it resumes from its trials table). What records trials (open streams, the table) stays out.
        return {}

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        plan = TrialPlan.from_dict(trial.config["plan"])
        last = dict(trial.last_result or {})
        if last.get("final"):
            result = json.loads(last["result_json"])
            outcome = TrialOutcome(
                plan,
                result["status"],
                result,
                last.get("node"),
                last.get("mlflow_run_id"),
            )
        else:  # the scheduler stopped it between epochs: its last epoch is all there is
            outcome = TrialOutcome(
                plan,
                "ok",
                None,
                None,
                last.get("mlflow_run_id"),
                stopped_by_scheduler=True,
                last_epoch=last,
            )
        self.on_outcome(outcome)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        plan = TrialPlan.from_dict(trial.config["plan"])
        last = dict(trial.last_result or {})
        outcome = TrialOutcome(
            plan,
            "failed",
            None,
            None,
            last.get("mlflow_run_id"),
            error=_error_text(trial),
            last_epoch=last,
        )
        self.on_outcome(outcome)


def _error_text(trial: Any) -> str:
    """The last line of the trial's error file (Ray writes the traceback as text beside a pickle)."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "the trial failed (no error text was recorded)"


@dataclass(frozen=True)
class RunSettings:
    """How the Tune runs of a study are executed."""

    storage_path: str
    name: str
    cpu: float
    gpu: float
    max_concurrent: int | None
    retries: int
    workers: int = 1  # above 1 the trial's Ray Train workers hold cpu and gpu each; the trial itself holds nothing


def _tuner(
    settings: RunSettings,
    on_outcome: Callable[[TrialOutcome], None],
    param_space: dict[str, Any],
    num_samples: int,
    search_alg: Searcher | None = None,
    scheduler: Any = None,
) -> tune.Tuner:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if settings.workers > 1:
        # Ray needs a non-empty bundle; the Train workers request the real resources (and max_concurrent,
        # set by the driver from them, keeps Tune from starting trials whose workers could not be placed).
        trial_resources = {"cpu": 0, "memory": 1}
    else:
        trial_resources = {"cpu": settings.cpu, "gpu": settings.gpu}
    trainable = tune.with_resources(_trial_function, trial_resources)
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=num_samples,
            max_concurrent_trials=settings.max_concurrent,
            reuse_actors=True,  # one worker process per slot imports torch once, not once per trial
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=f"{settings.name}-{stamp}",
            storage_path=settings.storage_path,
            failure_config=tune.FailureConfig(max_failures=settings.retries),
            callbacks=[_Recorder(on_outcome)],
            verbose=0,
        ),
    )


def _trial_name(trial: Any) -> str:
    plan = trial.config.get("plan") if trial.config else None
    key = plan["key"] if plan else trial.trial_id
    return f"{key.replace('/', '_')}_{trial.trial_id}"


def run_plans(
    plans: list[TrialPlan],
    settings: RunSettings,
    on_outcome: Callable[[TrialOutcome], None],
) -> None:
    """Run a fixed list of trials (the evaluation grid)."""
    if not plans:
        return
    space = {"plan": tune.grid_search([p.to_dict() for p in plans])}
    _tuner(settings, on_outcome, space, num_samples=1).fit()


@dataclass
class Search:
    """One Optuna search: its distributions, seed, batches, finished history, and how to plan a trial."""

    search_id: str
    method: str
    space: dict[str, Any]  # optuna distributions
    seed: int
    batches: Batches
    budget: int
    history: dict[int, tuple[dict[str, Any], float | None]]  # trial index -> (params, objective or None: failed)
    make_plan: Callable[[dict[str, Any], int], TrialPlan]

    @property
    def remaining(self) -> int:
        return max(0, self.budget - len(self.history))

    def ready(self, index: int) -> bool:
        """Every trial before ``index``'s batch has finished, so its values can be suggested."""
        return all(i in self.history for i in range(self.batches.first_of_batch(index)))

    def suggest(self, index: int) -> dict[str, Any]:
        seen = [self.history[i] for i in range(self.batches.first_of_batch(index))]
        return suggest(self.space, self.seed, index, seen, self.batches.startup)


class _BatchSearches(Searcher):
    """Several searches in one Tuner. Each new Tune trial gets the lowest open index of a search whose batch is
    ready (the search with the fewest trials so far first); None tells Tune to ask again once a trial ends."""

    def __init__(self, searches: list[Search]) -> None:
        super().__init__(metric=METRIC, mode="max")
        self._searches = searches
        self._open = {s.search_id: [i for i in range(s.budget) if i not in s.history] for s in searches}
        self._owner: dict[str, tuple[Search, int, dict[str, Any]]] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: a resumed study rebuilds every search from the trials table."""

    def restore(self, checkpoint_path: str) -> None:
        """See ``save``."""

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if not any(self._open.values()):
            return Searcher.FINISHED
        ready = [s for s in self._searches if self._open[s.search_id] and s.ready(self._open[s.search_id][0])]
        if not ready:
            return None
        s = min(ready, key=lambda s: s.budget - len(self._open[s.search_id]))
        index = self._open[s.search_id].pop(0)
        params = s.suggest(index)
        self._owner[trial_id] = (s, index, params)
        return {"plan": s.make_plan(params, index).to_dict()}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id not in self._owner:
            return
        s, index, params = self._owner.pop(trial_id)
        value = None if error or not result or result.get(METRIC) is None else float(result[METRIC])
        s.history[index] = (params, value)


def run_searches(
    searches: list[Search],
    settings: RunSettings,
    on_outcome: Callable[[TrialOutcome], None],
    asha: dict[str, Any] | None,
) -> None:
    """The tuning phase: every search's remaining trials in one Tuner."""
    total = sum(s.remaining for s in searches)
    if total == 0:
        return
    scheduler = ASHAScheduler(**asha) if asha else None
    _tuner(
        settings,
        on_outcome,
        {},
        num_samples=total,
        search_alg=_BatchSearches(searches),
        scheduler=scheduler,
    ).fit()
