"""``sam-study sync-mlflow``: back-fill MLflow from a study folder after the server was down.

The trials table is the record; MLflow is a view of it. For every row this makes sure the study's parent run has
exactly one complete child run with the row's ``trial_key`` (``mlflow.sync``). Child runs whose key is not in the
table (a study still running) are left alone. The parent gets what the driver could not log: the resolved spec,
``selection.json``, ``trials.parquet`` and the report; and FINISHED once every trial of the study is in the table.
A second run changes nothing.

The folder is only read: a row's ``mlflow_run_id`` is not written back (the table is append-only), so a
back-filled child is found by its ``trial_key`` tag, not by that column.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

from pipeline.results.folder import MLFLOW_ARTIFACTS_DIR, StudyFolder, recorded_tracking
from pipeline.results.outcomes import outcome_path
from pipeline.results.row import TrialRow
from pipeline.results.study_results import StudyResults
from pipeline.results.table import whole_file
from pipeline.results.trial_contract import plan_of_row, result_of_row
from pipeline.spec.study import StudySpec
from pipeline.spec.suite import SUITE_FILE
from pipeline.study.mlflow.parent import SuiteRun
from pipeline.study.mlflow.sync import ChildRecord, SyncedStudy
from pipeline.study.mlflow.uri import is_server
from pipeline.study.plan import trials_left
from pipeline.study.trial_process import child_params, child_tags, epoch_series, final_metrics


def sync(results: StudyResults, uri: str) -> str:
    """Fill MLflow at ``uri`` from ``results``; returns the line that says what was done."""
    spec, study_dir = results.spec, results.study_dir
    suite = _suite_of(study_dir)
    # Used only when the experiment is new: OUT/mlartifacts for OUT/<study> (or OUT/<suite>/<task>), as
    # `sam-study run` puts it.
    out = study_dir.parent.parent if suite is not None else study_dir.parent
    artifact_root = None if is_server(uri) else out / MLFLOW_ARTIFACTS_DIR
    study = SyncedStudy(uri, spec.name, study_dir, artifact_root, suite)
    if not study.has_spec():
        study.log_spec(json.loads(StudyFolder(study_dir).spec.read_text()))
    counts = {"created": 0, "completed": 0, "there": 0}
    removed = 0
    children = study.children_by_key()
    for row in results.rows:
        done, extra = study.sync_child(child_record(row, spec, study_dir), children.get(row.trial_key, []))
        counts[done] += 1
        removed += extra
    others = len(set(children) - {r.trial_key for r in results.rows})
    with tempfile.TemporaryDirectory() as scratch:  # a table not yet compacted is logged as one file
        uploaded = study.sync_parent_files(_parent_files(study_dir, Path(scratch)))
    ended = trials_left(spec, results.rows) == (0, 0) and study.end_parent()
    return (
        f"synced {study_dir} to MLflow at {uri} (parent run {study.parent_run_id}): created {counts['created']}, "
        f"completed {counts['completed']}, already there {counts['there']}"
        + (f"; deleted {removed} duplicate child run(s)" if removed else "")
        + (f"; left {others} child run(s) of trials not in the table alone" if others else "")
        + (f"; parent: logged {', '.join(uploaded)}" if uploaded else "; parent: up to date")
        + ("; parent run ended (FINISHED)" if ended else "")
    )


def _suite_of(study_dir: Path) -> SuiteRun | None:
    """A suite's task: the suite's experiment and run, which its study run is nested under."""
    suite_dir = study_dir.parent
    recorded = recorded_tracking(suite_dir) if (suite_dir / SUITE_FILE).is_file() else None
    if recorded is None:
        return None
    return SuiteRun(suite_dir.name, recorded.parent_run_id)


def _parent_files(study_dir: Path, scratch: Path) -> list[tuple[Path, str | None]]:
    folder = StudyFolder(study_dir)
    files: list[tuple[Path, str | None]] = [(whole_file(folder.table, scratch), None)]
    if folder.selection.exists():
        files.append((folder.selection, None))
    if folder.report.exists():
        files += [(path, "report") for path in (folder.report, folder.stats) if path.exists()]
        if folder.figures.is_dir():
            files += [(path, "report/figures") for path in sorted(folder.figures.iterdir()) if path.is_file()]
    return files


def child_record(row: TrialRow, spec: StudySpec, study_dir: Path) -> ChildRecord:
    """The child run the row's trial would have logged (``trial_process``), rebuilt from the row (and its
    per-example outcomes file in ``study_dir``, when it has one)."""
    plan = plan_of_row(row, spec.workers_per_trial)
    status = "stopped" if row.stopped_by_scheduler else row.status
    result = result_of_row(row)
    if result is None and status == "failed":
        result = {"error": row.error}  # what a failed trial logs
    epochs = [(int(record["epoch"]), epoch_series(record)) for record in row.history]
    end_ms = _ms(row.finished_at)
    outcomes = outcome_path(StudyFolder(study_dir).outcomes, row.trial_key)  # an evaluation trial's, if any
    wall = row.wall_time_s
    return ChildRecord(
        key=plan.key,
        tags={**child_tags(plan), "status": status},
        params=child_params(plan),
        epochs=epochs,
        final=final_metrics(result) if row.history_json and result is not None else {},
        result=result,
        status=status,
        run_id=row.mlflow_run_id,
        start_ms=end_ms - int(wall * 1000) if end_ms is not None and wall is not None else end_ms,
        end_ms=end_ms,
        outcomes=outcomes if outcomes.is_file() else None,
    )


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None
