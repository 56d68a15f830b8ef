"""``sam-study sync-mlflow``'s MLflow side: make the parent run's child runs match the trials table.

The trials table is the record; MLflow is a view of it. For every row the study's parent run gets exactly one
complete child run with the row's ``trial_key``: a missing one is created from the row, one left RUNNING or
incomplete by an outage is completed in place, extra ones are deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag

from pipeline.study.mlflow._client import (
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    TRIAL_ROLE,
    flatten_params,
    terminal_state,
)
from pipeline.study.mlflow.child import FINAL_STEP, OUTCOMES_ARTIFACT, log_file_as, log_result
from pipeline.study.mlflow.parent import StudyTracking, SuiteRun

SYNCED_TAG = "synced_from_trials_table"  # "true" on a child run that sync-mlflow created or completed
# Child runs logged before the per-epoch series moved under `epoch/` hold them unprefixed, and the selected model's
# values of three of them under these names; every other final value has the name it has now.
LEGACY_SERIES = "epoch_seconds"  # an unprefixed series only that layout logged
LEGACY_NAMES = {k: f"selected_{k}" for k in ("train_loss", "val_loss", "val_accuracy")}


@dataclass(frozen=True)
class ChildRecord:
    """A trial's child run as the trial would have logged it, rebuilt from its trials-table row."""

    key: str
    tags: dict[str, str]  # the trial's tags, ``status`` among them
    params: dict[str, Any]  # nested, flattened when logged
    epochs: list[tuple[int, dict[str, float | None]]]  # (epoch, its metrics); empty when the row has no history
    final: dict[str, float | None]  # the final values, logged at step ``FINAL_STEP``
    result: dict[str, Any] | None  # result.json
    status: str  # ok | diverged | failed | stopped
    run_id: str | None = None  # the run the trials table names
    start_ms: int | None = None
    end_ms: int | None = None
    outcomes: Path | None = None  # the trial's per-example outcomes file, when it wrote one


class SyncedStudy(StudyTracking):
    """The parent run of a finished (or stopped) study, opened to back-fill it; it is not set RUNNING again."""

    def __init__(
        self, uri: str, study: str, study_dir: Path, artifact_root: Path | None, suite: SuiteRun | None = None
    ) -> None:
        super().__init__(uri, study, study_dir, artifact_root, reopen=False, suite=suite)

    def children_by_key(self) -> dict[str, list[Any]]:
        """The active child runs, by their ``trial_key`` tag (a key may have several after an outage)."""
        found: dict[str, list[Any]] = {}
        for run in self.child_runs():
            found.setdefault(run.data.tags.get("trial_key", ""), []).append(run)
        return found

    def sync_child(self, record: ChildRecord, runs: list[Any]) -> tuple[str, int]:
        """Make ``record``'s trial have exactly one complete child run, given the active ``runs`` with its key.
        Returns what was done (``created``, ``completed`` or ``there``) and how many extra runs were deleted.

        The run kept is the one the trials table names, else a complete one, else the newest; the others are
        deleted. A kept run that is incomplete (left RUNNING by the outage, or ended without its final values) is
        completed in place: only what it lacks is logged, so no metric step appears twice. A complete run in the
        earlier layout (``LEGACY_NAMES``) is kept as it is; an incomplete one is never kept, so no run mixes the
        two layouts."""
        keep = _pick([r for r in runs if not _legacy(r) or _complete(r, record)], record)
        removed = 0
        for run in runs:
            if run is not keep:
                self.client.delete_run(run.info.run_id)
                removed += 1
        if keep is None:
            tags = {"mlflow.parentRunId": self.parent_run_id, "role": TRIAL_ROLE, **record.tags}
            run_id = self.client.create_run(
                self.experiment_id, start_time=record.start_ms, tags=tags, run_name=record.key
            ).info.run_id
            self._fill(run_id, record, None)
            return "created", removed
        if _complete(keep, record):
            return "there", removed
        self._fill(keep.info.run_id, record, keep)
        return "completed", removed

    def _fill(self, run_id: str, record: ChildRecord, existing: Any | None) -> None:
        have_params = existing.data.params if existing is not None else {}
        have_metrics = existing.data.metrics if existing is not None else {}
        flat = flatten_params(record.params)
        params = [Param(k, v[:MAX_PARAM_VAL_LENGTH]) for k, v in sorted(flat.items()) if k not in have_params]
        now = int(time.time() * 1000)
        stamp = record.end_ms or now
        metrics: list[Metric] = []
        for key in sorted({k for _, values in record.epochs for k in values}):
            steps = {m.step for m in self.client.get_metric_history(run_id, key)} if key in have_metrics else set()
            metrics += [
                Metric(key, float(values[key]), stamp, epoch)
                for epoch, values in record.epochs
                if values.get(key) is not None and epoch not in steps
            ]
        metrics += [
            Metric(k, float(v), stamp, FINAL_STEP)
            for k, v in record.final.items()
            if v is not None and k not in have_metrics
        ]
        tags = [RunTag(k, v) for k, v in {**record.tags, SYNCED_TAG: "true"}.items()]
        n = MAX_PARAMS_TAGS_PER_BATCH  # metrics in the same steps, well under MAX_METRICS_PER_BATCH
        for start in range(0, max(len(params), len(metrics), 1), n):
            self.client.log_batch(
                run_id,
                metrics=metrics[start : start + n],
                params=params[start : start + n],
                tags=tags if start == 0 else [],
            )
        if record.result is not None:
            log_result(self.client, run_id, record.result)
        if record.outcomes is not None:
            log_file_as(self.client, run_id, record.outcomes, OUTCOMES_ARTIFACT)
        self.client.set_terminated(run_id, terminal_state(record.status), end_time=record.end_ms)

    def sync_parent_files(self, files: list[tuple[Path, str | None]]) -> list[str]:
        """Upload each ``(file, artifact folder)`` the parent run lacks or holds at another size; returns the
        artifact paths uploaded (none when the parent already holds them all)."""
        listings: dict[str | None, dict[str, int | None]] = {}
        uploaded = []
        for path, folder in files:
            if folder not in listings:
                listings[folder] = {a.path: a.file_size for a in self.client.list_artifacts(self.parent_run_id, folder)}
            name = f"{folder}/{path.name}" if folder else path.name
            if listings[folder].get(name) != path.stat().st_size:
                self.client.log_artifact(self.parent_run_id, str(path), folder)
                uploaded.append(name)
        return uploaded

    def has_spec(self) -> bool:
        return any(
            a.path == "study/resolved_spec.json" for a in self.client.list_artifacts(self.parent_run_id, "study")
        )

    def end_parent(self) -> bool:
        """FINISHED, unless it is already; True when it was changed."""
        if self.client.get_run(self.parent_run_id).info.status == "FINISHED":
            return False
        self.client.set_terminated(self.parent_run_id, "FINISHED")
        return True


def _legacy(run: Any) -> bool:
    return LEGACY_SERIES in run.data.metrics


def _complete(run: Any, record: ChildRecord) -> bool:
    names = LEGACY_NAMES if _legacy(run) else {}
    return (
        run.info.status == terminal_state(record.status)
        and run.data.tags.get("status") == record.status
        and all(names.get(k, k) in run.data.metrics for k, v in record.final.items() if v is not None)
    )


def _pick(runs: list[Any], record: ChildRecord) -> Any | None:
    for run in runs:
        if run.info.run_id == record.run_id:
            return run
    complete = [r for r in runs if _complete(r, record)]
    return max(complete or runs, key=lambda r: r.info.start_time or 0, default=None)
