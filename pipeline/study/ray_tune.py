"""Ray Tune: the only module that imports it.

A study is one Tune run (``run_stream``). Its searcher asks the study's ``StudyStream`` for each new trial: a
tuning trial of an Optuna search whose batch is ready (each search suggests with a seeded TPE sampler in batches
whose suggestions do not depend on completion order, ``batch_search``), or an evaluation trial of a method whose
configuration is known, so evaluation starts while other methods still tune and no slot waits at a barrier.
ASHA, when the study asks for it, stops tuning trials only.

Every trial runs ``_trial_function`` in a Ray worker: ``run_trial`` with per-epoch ``tune.report`` and
MLflow logging. The driver's ``_Recorder`` callback turns each finished trial into a trials-table row
the moment it finishes.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import Searcher

from pipeline.results.trial_contract import METRIC, TrialOutcome, TrialPlan
from pipeline.study.ray_cluster import node_label
from pipeline.study.stream import DONE, WAIT, TrialSource
from pipeline.study.trial_process import run_planned_trial

log = logging.getLogger(__name__)


def _trial_function(config: dict[str, Any]) -> None:
    plan = TrialPlan.from_tune(config)
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
        # Without a final report, the scheduler stopped it between epochs: its last epoch is all there is.
        self.on_outcome(TrialOutcome.from_tune(trial.config, dict(trial.last_result or {})))

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.on_outcome(TrialOutcome.from_tune(trial.config, dict(trial.last_result or {}), error=_error_text(trial)))


def _error_text(trial: Any) -> str:
    """The trial's error file: the traceback Ray wrote as text beside a pickle (empty when it wrote none), without
    the terminal's colour codes."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        return ""
    return _COLOUR.sub("", text)


_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


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


@dataclass(frozen=True)
class AshaSettings:
    """ASHA's settings for one study's tuning trials (its own rungs: a suite's tasks never compete)."""

    max_t: int
    grace_period: int
    reduction_factor: float


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
    key = TrialPlan.from_tune(trial.config).key if trial.config else trial.trial_id
    return f"{key.replace('/', '_')}_{trial.trial_id}"


class _Stream(Searcher):
    """The study's ``StudyStream`` (a suite's ``SuiteStream``) as Tune's searcher: each free slot asks it for a
    trial; None tells Tune to ask again once a trial ends."""

    def __init__(self, stream: TrialSource) -> None:
        super().__init__(metric=METRIC, mode="max")
        self._stream = stream
        self._tuning: dict[str, TrialPlan] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: a resumed study rebuilds its stream from the trials table."""

    def restore(self, checkpoint_path: str) -> None:
        """See ``save``."""

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        plan = self._stream.next_plan()
        if plan == DONE:
            return Searcher.FINISHED
        if plan == WAIT:
            return None
        if plan.phase == "tune":
            self._tuning[trial_id] = plan
        return plan.to_tune()

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        plan = self._tuning.pop(trial_id, None)
        if plan is None:
            return
        value = None if error or not result or result.get(METRIC) is None else float(result[METRIC])
        self._stream.tuning_finished(plan, value)


class _TuningASHA(FIFOScheduler):
    """ASHA for tuning trials only, with its own rungs per study (a suite's tasks never compete with each other's
    scores): an evaluation trial in the same Tune run always runs to its end."""

    def __init__(self, per_study: dict[str, AshaSettings]) -> None:
        super().__init__()
        self._asha = {study: ASHAScheduler(**dataclasses.asdict(s)) for study, s in per_study.items()}

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return all([a.set_search_properties(metric, mode, **spec) for a in self._asha.values()])

    def _of(self, trial: Any) -> ASHAScheduler | None:
        plan = TrialPlan.from_tune(trial.config) if trial.config else None
        return self._asha.get(plan.study) if plan is not None and plan.phase == "tune" else None

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if (asha := self._of(trial)) is not None:
            asha.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        asha = self._of(trial)
        return asha.on_trial_result(tune_controller, trial, result) if asha is not None else self.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if (asha := self._of(trial)) is not None:
            asha.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        if (asha := self._of(trial)) is not None:
            asha.on_trial_remove(tune_controller, trial)


def run_stream(
    stream: TrialSource,
    settings: RunSettings,
    on_outcome: Callable[[TrialOutcome], None],
    asha: dict[str, AshaSettings],
    most_trials: int,
) -> None:
    """A whole study, or a suite's every task, in one Tune run: every trial the stream hands out, until it says
    DONE (at most ``most_trials``, the bound Tune needs). ``asha``: ASHA's settings for each study that uses it."""
    if most_trials <= 0:
        return
    _tuner(
        settings,
        on_outcome,
        {},
        num_samples=most_trials,
        search_alg=_Stream(stream),
        scheduler=_TuningASHA(asha) if asha else None,
    ).fit()
