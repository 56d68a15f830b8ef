"""`sam-study sync-mlflow STUDY_DIR`: back-fill MLflow from a study folder after the server was down.

The trials table is the record; MLflow is a view of it. For every row this makes sure the study's parent run has
exactly one complete child run with the row's ``trial_key``: a missing one is created from the row (its tags,
params, per-epoch metrics from ``history_json``, final metrics, ``result.json`` as far as the row holds it, and its
terminal state), one left RUNNING or incomplete by the outage is completed in place, extra ones are deleted. Child
runs whose key is not in the table (a study still running) are left alone. The parent gets what the driver could not
log: the resolved spec, ``selection.json``, ``trials.parquet`` and the report; and FINISHED once every trial of the
study is in the table. A second run changes nothing.

The folder is only read: a row's ``mlflow_run_id`` is not written back (the table is append-only and
``results_store`` owns it), so a back-filled child is found by its ``trial_key`` tag, not by that column.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.report.markdown import FIGURES_DIR
from pipeline.results.study_results import ReportInputError, StudyResults, load_study_results
from pipeline.report.write import REPORT_FILE, STATS_FILE, recorded_tracking
from pipeline.study.plan import TrialPlan, trials_left
from pipeline.results.table import TABLE_NAME
from pipeline.study.recording import RESULT_SCALARS
from pipeline.spec.study import SPEC_FILE, StudySpec

if TYPE_CHECKING:
    from pipeline.study.mlflow.tracking import ChildRecord

_INTEGERS = ("best_epoch", "epochs_run", "steps_per_epoch")  # int in a TrialResult, float in a column with gaps


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study_dir", type=Path, help="the study folder, OUT/<study>, as written by `sam-study run`")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="the MLflow tracking URI to fill (default: the one recorded in STUDY_DIR/mlflow.json)",
    )


def sync_command(args: argparse.Namespace) -> int:
    try:
        results = load_study_results(args.study_dir)
        uri = args.tracking_uri or _recorded_uri(results.study_dir)
    except ReportInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Imported only now: MLflow takes seconds to import, and a bad folder should fail fast.
    from pipeline.study.mlflow import tracking

    try:
        uri = tracking.use_credentials(uri)  # a password in it moves into the environment, out of every message
        tracking.check_tracking_uri(uri)
        print(sync(results, uri))
    except tracking.TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - MLflow raises its own and transport errors alike
        print(
            f"error: MLflow at {uri} failed during the sync ({type(error).__name__}: "
            f"{tracking.redact(str(error))[:500]}); what was synced stays, run the same command again to finish",
            file=sys.stderr,
        )
        return 2
    return 0


def _recorded_uri(study_dir: Path) -> str:
    recorded = recorded_tracking(study_dir)
    if recorded is None:
        raise ReportInputError(
            f"{study_dir / 'mlflow.json'}: missing or unreadable, so the study's MLflow location is unknown; "
            "pass --tracking-uri"
        )
    return recorded["tracking_uri"]


def sync(results: StudyResults, uri: str) -> str:
    """Fill MLflow at ``uri`` from ``results``; returns the line that says what was done."""
    from pipeline.study.mlflow.tracking import StudyTracking, is_server

    spec, study_dir = results.spec, results.study_dir
    # Used only when the experiment is new: OUT/mlartifacts for OUT/<study>, as `sam-study run` puts it.
    artifact_root = None if is_server(uri) else study_dir.parent / "mlartifacts"
    study = StudyTracking(uri, spec.name, study_dir, artifact_root, reopen=False)
    if not study.has_spec():
        study.log_spec(json.loads((study_dir / SPEC_FILE).read_text()))
    counts = {"created": 0, "completed": 0, "there": 0}
    removed = 0
    children = study.children_by_key()
    for row in results.rows:
        done, extra = study.sync_child(child_record(row, spec), children.get(row["trial_key"], []))
        counts[done] += 1
        removed += extra
    others = len(set(children) - {r["trial_key"] for r in results.rows})
    uploaded = study.sync_parent_files(_parent_files(study_dir))
    ended = trials_left(spec, results.rows) == (0, 0) and study.end_parent()
    return (
        f"synced {study_dir} to MLflow at {uri} (parent run {study.parent_run_id}): created {counts['created']}, "
        f"completed {counts['completed']}, already there {counts['there']}"
        + (f"; deleted {removed} duplicate child run(s)" if removed else "")
        + (f"; left {others} child run(s) of trials not in the table alone" if others else "")
        + (f"; parent: logged {', '.join(uploaded)}" if uploaded else "; parent: up to date")
        + ("; parent run ended (FINISHED)" if ended else "")
    )


def _parent_files(study_dir: Path) -> list[tuple[Path, str | None]]:
    files: list[tuple[Path, str | None]] = [(study_dir / TABLE_NAME, None)]
    if (study_dir / "selection.json").exists():
        files.append((study_dir / "selection.json", None))
    if (study_dir / REPORT_FILE).exists():
        files += [(study_dir / name, "report") for name in (REPORT_FILE, STATS_FILE) if (study_dir / name).exists()]
        figures = study_dir / FIGURES_DIR
        if figures.is_dir():
            files += [(path, "report/figures") for path in sorted(figures.iterdir()) if path.is_file()]
    return files


def child_record(row: dict[str, Any], spec: StudySpec) -> ChildRecord:
    """The child run the row's trial would have logged (``trial_process``), as a ``tracking.ChildRecord``."""
    from pipeline.study.mlflow.tracking import ChildRecord
    from pipeline.study.trial_process import child_params, child_tags, epoch_metrics, final_metrics

    plan = TrialPlan(
        key=row["trial_key"],
        study=row["study"],
        phase=row["phase"],
        method=row["method"],
        optimizer=row["optimizer"],
        seed=int(row["seed"]),
        config=json.loads(row["config_json"]),
        params=json.loads(row["params_json"]),
        search=row.get("search"),
        trial_index=row.get("trial_index"),
        workers=spec.workers_per_trial,
    )
    status = "stopped" if row.get("stopped_by_scheduler") else row["status"]
    result = _result(row)
    if result is None and status == "failed":
        result = {"error": row.get("error")}  # what a failed trial logs
    history = json.loads(row["history_json"]) if row.get("history_json") else []
    epochs = [(int(record["epoch"]), epoch_metrics(record)) for record in history]
    end_ms = _ms(row.get("finished_at"))
    wall = row.get("wall_time_s")
    return ChildRecord(
        key=plan.key,
        tags={**child_tags(plan), "status": status},
        params=child_params(plan),
        epochs=epochs,
        final=final_metrics(result) if row.get("history_json") and result is not None else {},
        final_step=int(row.get("epochs_run") or 0),
        result=result,
        status=status,
        run_id=row.get("mlflow_run_id"),
        start_ms=end_ms - int(wall * 1000) if end_ms is not None and wall is not None else end_ms,
        end_ms=end_ms,
    )


def _result(row: dict[str, Any]) -> dict[str, Any] | None:
    """The trial's ``result.json`` (a TrialResult), from a row of a trial that ran to its end; None otherwise."""
    if not row.get("history_json"):
        return None
    trajectory = row.get("rho_trajectory")
    if isinstance(trajectory, str):
        trajectory = json.loads(trajectory)
    scalars = {k: _plain(row.get(k)) for k in RESULT_SCALARS}
    scalars.update({k: int(scalars[k]) for k in _INTEGERS if scalars.get(k) is not None})
    return {
        "status": row["status"],
        "optimizer": row["optimizer"],
        "seed": int(row["seed"]),
        **scalars,
        "history": json.loads(row["history_json"]),
        "rho_trajectory": [float(v) for v in trajectory] if trajectory is not None else None,
        "device": row.get("device"),
        "versions": {k.removeprefix("version."): v for k, v in row.items() if k.startswith("version.") and v},
        "config": json.loads(row["config_json"]),
        "error": row.get("error"),
    }


def _plain(value: Any) -> Any:
    """numpy scalars from the table as Python numbers (MLflow and JSON want those)."""
    return value.item() if hasattr(value, "item") else value


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None
