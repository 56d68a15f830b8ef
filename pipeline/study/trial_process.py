"""One planned trial in the process that trains it: MLflow child run, ``run_trial``, per-epoch reports.

Free of Ray: the caller passes ``report``, which is ``tune.report`` for a one-process trial and
``ray.train.report`` on every worker of a data-parallel one (where only rank 0, the chief, logs to MLflow;
Ray Train forwards rank 0's reports to Tune). What is reported is the trial contract's (``EpochReport`` after each
epoch, then one ``FinalReport`` with the whole TrialResult; ``pipeline.results.trial_contract``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from pipeline.results.outcomes import write_outcomes
from pipeline.results.trial_contract import EpochReport, FinalReport, TrialPlan
from pipeline.study.mlflow.child import OUTCOMES_ARTIFACT, TrialTracking
from pipeline.train import EpochRecord, TrialCallbacks, run_trial
from pipeline.train.data_parallel import DataParallel

Report = Callable[[dict[str, Any]], None]  # tune.report or ray.train.report: takes what to_tune gives


class _ReportingCallbacks(TrialCallbacks):
    def __init__(self, tracking: TrialTracking | None, report: Report) -> None:
        self.tracking, self.report = tracking, report
        self.outcomes: dict[str, tuple[Any, Any]] = {}

    def on_outcomes(self, outcomes: dict[str, tuple[Any, Any]]) -> None:
        self.outcomes = {name: (predicted.numpy(), labels.numpy()) for name, (predicted, labels) in outcomes.items()}

    def on_epoch(self, record: EpochRecord) -> None:
        if self.tracking is not None:
            self.tracking.log_epoch(record.epoch, epoch_series(asdict(record)))
        run_id = self.tracking.run_id if self.tracking is not None else None
        self.report(EpochReport.of(record, run_id).to_tune())


# What a trial's child run holds, here and as `sam-study sync-mlflow` rebuilds it from a trials-table row.
# MLflow's UI charts each metric-key prefix as a section of its own and shows those sections before the unprefixed
# metrics: the per-epoch curves (under `epoch/`) come first, the final values (one each, at step 0, so drawn as
# bars) after them, under the trials table's column names.
EPOCH_PREFIX = "epoch/"
SERIES = ("train_loss", "val_loss", "val_accuracy", "lr", "seconds", "rho")  # the EpochRecord fields charted
_NOT_RESULTS = {"seed"}  # a number of the TrialResult that is an input: the run's `seed` tag already


def epoch_series(record: dict[str, Any]) -> dict[str, Any]:
    """An epoch's values in the child run, from an ``EpochRecord`` as a dict (a ``history_json`` entry is one)."""
    return {EPOCH_PREFIX + name: record.get(name) for name in SERIES}


def child_tags(plan: TrialPlan) -> dict[str, str]:
    return {
        "study": plan.study,
        "phase": plan.phase,
        "method": plan.method,
        "optimizer": plan.optimizer,
        "seed": str(plan.seed),
        "trial_key": plan.key,
        "workers": str(plan.workers),
    }


def child_params(plan: TrialPlan) -> dict[str, Any]:
    config = plan.config
    # The precision, clipping and accumulation settings always, also at their defaults (which the dump leaves out).
    training = {"precision": config.precision, "clip_grad_norm": config.clip_grad_norm, "accumulate": config.accumulate}
    labels = {"phase": plan.phase, "method": plan.method, "searched": plan.params}
    return {**config.model_dump(mode="json"), **training, **labels}


def final_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The child run's final values: the numbers of a TrialResult dict, by name (``val_accuracy`` is the selected
    model's, as in the trials table)."""
    return {
        k: v
        for k, v in summary.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_RESULTS
    }


def _tracking(plan: TrialPlan) -> TrialTracking | None:
    if plan.tracking is None:
        return None
    return TrialTracking(
        plan.tracking.uri,
        plan.tracking.experiment_id,
        plan.tracking.parent_run_id,
        run_name=plan.key,
        tags=child_tags(plan),
        params=child_params(plan),
    )


def run_planned_trial(
    plan: TrialPlan,
    report: Report,
    node: str,
    parallel: DataParallel | None = None,
    device: torch.device | None = None,
) -> None:
    trial_config = plan.config
    chief = parallel is None or parallel.is_chief
    tracking = _tracking(plan) if chief else None
    callbacks = _ReportingCallbacks(tracking, report)
    try:
        result = run_trial(trial_config, callbacks, parallel, device)
    except SystemExit:  # how Ray ends a trial that its scheduler stopped (inside tune.report)
        if tracking is not None:
            tracking.finish("stopped", {}, None)
        raise
    except BaseException as error:
        if tracking is not None:
            tracking.finish("failed", {}, {"error": f"{type(error).__name__}: {error}"})
        raise
    if chief and plan.outcomes_dir is not None and callbacks.outcomes:  # before the report: a recorded trial has it
        path = write_outcomes(plan.outcomes_dir, plan.key, callbacks.outcomes)
        if tracking is not None:
            tracking.log_file(path, OUTCOMES_ARTIFACT)
    final = FinalReport.of(result, node, tracking.run_id if tracking is not None else None)
    if tracking is not None:
        summary = final.result.to_dict()
        tracking.finish(result.status, final_metrics(summary), summary)
    report(final.to_tune())
    if chief and trial_config.checkpoint_dir is not None:  # finished: a retry would start over anyway
        shutil.rmtree(trial_config.checkpoint_dir, ignore_errors=True)
