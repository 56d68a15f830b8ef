"""``run_suite``: every task of a suite as a study, in one Ray session and one streaming Tune run.

prepare each task (its folder ``OUT/<suite>/<task>``, its data) -> start Ray -> the suite's MLflow run, and each
task's study run nested under it -> every trial of every task in one Tune run (``SuiteStream``: no slot waits
between tasks) -> finish each task (summary, study report) -> the suite report, onto the suite's run.

Each task keeps its own trials table, so a suite resumes exactly as its studies do: re-running the same command
runs only what no table holds, and decides every task's rounds from its rows alone.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pipeline.report.suite import SUITE_REPORT_FILE, write_suite_report
from pipeline.results.folder import LOG_FILE, TABLE_FILE, TrackingRecord, record_tracking
from pipeline.results.table import TrialsTable
from pipeline.spec.study import StudySpec, StudySpecError
from pipeline.spec.suite import SUITE_FILE, SuiteSpec
from pipeline.study.cluster_watch import ClusterWatch
from pipeline.study.driver import (
    StudyOutcome,
    Where,
    artifact_root,
    finish,
    open_study,
    prepare,
    run_trials,
    write_study_file,
)
from pipeline.study.errors import RayLost
from pipeline.study.library_output import library_output_to
from pipeline.study.mlflow.parent import SUITE_ROLE, StudyTracking, SuiteRun
from pipeline.study.mlflow.secrets import credential_vars
from pipeline.study.mlflow.uri import ui_hint
from pipeline.study.plan import trials_left
from pipeline.study.ray_cluster import Cluster
from pipeline.study.ray_session import ray_session

__all__ = ["SuiteOutcome", "run_suite"]


@dataclass
class SuiteOutcome:
    suite_dir: Path
    tracking_uri: str
    suite_run_id: str
    studies: list[StudyOutcome]
    timings: dict[str, float] = field(default_factory=dict)
    tracking_lost: str | None = None  # why MLflow missed part of the suite (run `sam-study sync-mlflow` per task)


def run_suite(
    suite: SuiteSpec,
    suite_file: Path,
    *,
    out_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    address: str | None = None,
    stream: TextIO | None = None,
    library_log: bool = False,
    on_ray_lost: Callable[[RayLost], None] | None = None,
) -> SuiteOutcome:
    """Run (or resume) every task of ``suite`` into ``OUT/<suite>/<task>``, then the suite report into
    ``OUT/<suite>``. Errors and Ray's loss behave as in ``run_study``."""
    started = time.monotonic()
    tasks = [
        prepare(task, suite_file, out_dir, tracking_uri, address, f"{suite.name}/{task.name}") for task in suite.tasks
    ]
    where = tasks[0][1]
    suite_dir = where.out / suite.name
    resolved = suite.model_copy(update={"tasks": tuple(spec for spec, _ in tasks)}).model_dump(mode="json")
    _check_suite_folder(suite, suite_dir)
    write_study_file(suite_dir / SUITE_FILE, resolved)
    with contextlib.ExitStack() as stack:
        if library_log:
            stack.enter_context(library_output_to(suite_dir / LOG_FILE))
        stream = stream or sys.stdout  # read only now: library_output_to replaces it

        def lost(cluster: Cluster, watch: ClusterWatch) -> RayLost:
            return _suite_lost(tasks, suite_dir, cluster, watch)

        with ray_session(address, stack, on_ray_lost, lost) as cluster:
            timings = {"ray_start_s": time.monotonic() - started}
            tracking = StudyTracking(where.uri, suite.name, suite_dir, artifact_root(where), role=SUITE_ROLE)
            tracking.log_suite(suite_file, resolved)
            record = TrackingRecord(
                where.uri, tracking.experiment_id, tracking.parent_run_id, tuple(credential_vars(where.uri))
            )
            record_tracking(suite_dir, record)
            print(_header(suite, suite_dir, cluster, where.uri, tracking.parent_run_id), file=stream, flush=True)
            if library_log:
                print(f"Ray's, MLflow's and Optuna's own output: {suite_dir / LOG_FILE} (--verbose: here)", file=stream)
            run = SuiteRun(suite.name, tracking.parent_run_id)
            log = suite_dir / LOG_FILE if library_log else None
            studies = [open_study(spec, suite_file, w, cluster, stream, log, suite=run) for spec, w in tasks]
            tracking.keep_going(lambda message: print(f"warning: {message}", file=stream, flush=True))
            selections = run_trials(studies, suite.name, suite_dir)
            outcomes = [finish(study, chosen, started) for study, chosen in zip(studies, selections, strict=True)]
            timings["report_s"] = _suite_report(suite_dir, tracking, stream)
            tracking.finish()
            print(ui_hint(where.uri, tracking.experiment_id, tracking.parent_run_id), file=stream, flush=True)
            timings["total_s"] = time.monotonic() - started
            lost_tracking = tracking.lost or next((o.tracking_lost for o in outcomes if o.tracking_lost), None)
            return SuiteOutcome(suite_dir, where.uri, tracking.parent_run_id, outcomes, timings, lost_tracking)
    raise AssertionError("unreachable")  # the with block returns or raises


def _check_suite_folder(suite: SuiteSpec, suite_dir: Path) -> None:
    """A suite folder may hold studies only as tasks of this suite: a study folder there of another name would be
    reported as a task it is not."""
    if (suite_dir / TABLE_FILE).exists():
        raise StudySpecError(
            f"{suite_dir} holds a study, not a suite; run the suite into another folder with --out, or rename it"
        )


def _header(suite: SuiteSpec, suite_dir: Path, cluster: Cluster, uri: str, run_id: str) -> str:
    return (
        f"suite {suite.name}: {len(suite.tasks)} tasks ({', '.join(suite.task_names)}), each a study in its own "
        f"folder under {suite_dir}; Ray at {cluster.address} ({cluster.nodes} node(s), {cluster.cpus:g} CPU, "
        f"{cluster.gpus:g} GPU); MLflow at {uri} (suite run {run_id})"
    )


def _suite_lost(
    tasks: list[tuple[StudySpec, Where]], suite_dir: Path, cluster: Cluster, watch: ClusterWatch
) -> RayLost:
    recorded = to_go = 0
    for spec, where in tasks:
        rows = TrialsTable(where.folder.table).rows()
        recorded += len(rows)
        to_go += sum(trials_left(spec, rows))
    what = "the embedded Ray instance" if cluster.address == "local" else f"the Ray cluster at {cluster.address}"
    return RayLost(
        what, watch.lost or "", recorded, to_go, suite_dir, tables=f"the tasks' {TABLE_FILE} under {suite_dir}"
    )


def _suite_report(suite_dir: Path, tracking: StudyTracking, stream: TextIO) -> float:
    """The suite report over every task, into the suite folder and onto the suite's MLflow run."""
    started = time.monotonic()
    try:
        outcome = write_suite_report(suite_dir)
        print(outcome.verdict, file=stream)
        print(f"suite report: {suite_dir / SUITE_REPORT_FILE}", file=stream, flush=True)
        tracking.log_report(outcome.files, outcome.figures_dir)
    except Exception as error:  # noqa: BLE001 - every trial is safe in the tables; the report can be made again
        print(
            f"warning: the suite report could not be written ({type(error).__name__}: {error}); every trial is kept, "
            f"make it with `sam-study report {suite_dir}`",
            file=stream,
        )
    return time.monotonic() - started
