"""One trials-table row from a trial's plan and its outcome (the schema is ``results.row.TrialRow``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pipeline._io import finite_or_none
from pipeline.optim import default_hyperparameters, set_by_trainer
from pipeline.results.row import VERSION_PREFIX, TrialRow
from pipeline.study.outcome import TrialOutcome
from pipeline.study.plan import TrialPlan

TRAINING_COLUMNS = (
    "lr",
    "momentum",
    "weight_decay",
    "nesterov",
    "base",
    "batch_size",
    "epochs",
    "schedule",
)
RESULT_SCALARS = (
    "test_accuracy",
    "test_loss",
    "val_accuracy",
    "val_loss",
    "train_loss",
    "best_epoch",
    "epochs_run",
    "final_test_accuracy",
    "final_val_accuracy",
    "shifted_test_accuracy",
    "shifted_test_loss",
    "wall_time_s",
    "train_time_s",
    "passes_per_step",
    "steps_per_epoch",
    "samples_per_second",
    "peak_memory_mb",
    "resumed_at_epoch",
)


def trial_row(
    plan: TrialPlan,
    outcome: TrialOutcome,
    provenance: dict[str, str],
) -> TrialRow:
    """The row of ``plan``'s trial. ``outcome.result`` is a ``TrialResult.to_dict()``; without one (a failed or
    scheduler-stopped trial), ``outcome.last_epoch`` holds the last per-epoch metrics the trial reported.
    ``provenance``: ``code_digest`` and the ``version.<library>`` values of the driver's stack."""
    config = plan.config
    hparams = {
        k: v
        for k, v in {**default_hyperparameters(plan.optimizer), **config["hparams"]}.items()
        if k not in set_by_trainer(plan.optimizer)
    }
    versions = {k.removeprefix(VERSION_PREFIX): v for k, v in provenance.items() if k.startswith(VERSION_PREFIX)}
    row = TrialRow(
        study=plan.study,
        phase=plan.phase,
        method=plan.method,
        optimizer=plan.optimizer,
        trial_key=plan.key,
        search=plan.search,
        trial_index=plan.trial_index,
        round=plan.round,
        seed=plan.seed,
        status=outcome.status,
        error=outcome.error,
        stopped_by_scheduler=outcome.stopped_by_scheduler,
        rho=hparams.get("rho"),
        **{k: config[k] for k in TRAINING_COLUMNS},
        hparams=hparams,
        params_json=json.dumps(plan.params, sort_keys=True),
        config_json=json.dumps(config, sort_keys=True),
        node=outcome.node,
        git_commit=plan.git_commit,
        code_digest=provenance.get("code_digest"),
        mlflow_run_id=outcome.mlflow_run_id,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if outcome.result is not None:
        return _with_result(row, finite_or_none(outcome.result), versions)
    return _with_last_epoch(row, finite_or_none(outcome.last_epoch or {}), versions)


def _with_result(row: TrialRow, result: dict[str, Any], versions: dict[str, str]) -> TrialRow:
    epochs = result["epochs_run"]
    trajectory = result["rho_trajectory"]
    return row.replace(
        **{k: result[k] for k in RESULT_SCALARS},
        seconds_per_epoch=result["train_time_s"] / epochs if epochs else None,
        rho_trajectory=tuple(trajectory) if trajectory is not None else None,
        final_rho=trajectory[-1] if trajectory else None,
        history_json=json.dumps(result["history"]),
        device=result["device"],
        versions={**versions, **result["versions"]},
    )


def _with_last_epoch(row: TrialRow, last: dict[str, Any], versions: dict[str, str]) -> TrialRow:
    """Ray's own clock of the trial, and the epochs it reported, stand in for the TrialResult's."""
    scalars = {k: last.get(k) for k in RESULT_SCALARS}
    scalars["wall_time_s"] = last.get("time_total_s")
    scalars["epochs_run"] = last["epoch"] + 1 if last.get("epoch") is not None else None
    return row.replace(**scalars, final_rho=last.get("rho"), device=last.get("device"), versions=versions)
