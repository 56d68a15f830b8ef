"""The one driver: a run of tasks, top to bottom. A study is a suite of one task.

prepare every task (paths, data, tracking location, its folder) -> start Ray -> the suite's MLflow run, for a suite
-> open each task's study (its MLflow run, trials table, slots) -> every trial of every task in one Tune run
(``StudyStream`` per task: the Optuna searches, and each method's evaluation seeds from the moment its
configuration is selected; with sequential seeds, round after round while its comparison is undecided) -> finish
each task (summary, report, MLflow) -> the suite report, for a suite.

A study runs into ``OUT/<study>`` with its own MLflow run; a suite's tasks into ``OUT/<suite>/<task>``, their runs
nested under the suite's. The reports come from the caller (``Reports``): the orchestrator never imports them.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pipeline.results.folder import LOG_FILE, TABLE_FILE
from pipeline.results.report_files import ReportFiles
from pipeline.results.table import TrialsTable, table_exists
from pipeline.spec.study import StudySpec, StudySpecError
from pipeline.spec.suite import SUITE_FILE, SuiteSpec
from pipeline.study.cluster_watch import ClusterWatch
from pipeline.study.errors import RayLost, StudyInterrupted, StudyWriteError
from pipeline.study.library_output import library_output_to
from pipeline.study.mlflow.parent import SUITE_ROLE, StudyTracking, SuiteRun
from pipeline.study.mlflow.uri import ui_hint
from pipeline.study.phases import (
    StudyOutcome,
    StudyReport,
    SuiteReport,
    Timings,
    finish,
    log_report,
    open_study,
    record_run,
    run_trials,
)
from pipeline.study.plan import trials_left
from pipeline.study.preparation import Where, artifact_root, prepare, write_study_file
from pipeline.study.ray_cluster import Cluster
from pipeline.study.ray_session import ray_session
from pipeline.study.stream import Rounds

__all__ = [
    "RayLost",
    "ReportFiles",
    "Reports",
    "StudyInterrupted",
    "StudyOutcome",
    "StudyWriteError",
    "SuiteOutcome",
    "run_study",
    "run_suite",
]


@dataclass(frozen=True)
class Reports:
    """The reports a run ends with: each task's study report, and a suite's report over its tasks."""

    study: StudyReport
    suite: SuiteReport | None = None


@dataclass
class SuiteOutcome:
    suite_dir: Path
    tracking_uri: str
    suite_run_id: str
    studies: list[StudyOutcome]
    timings: Timings
    tracking_lost: str | None = None  # why MLflow missed part of the suite (run `sam-study sync-mlflow` per task)


@dataclass(frozen=True)
class _Tasks:
    """What one run of the driver runs: one study in ``folder``, or a suite's tasks under the suite's ``folder``."""

    name: str  # the Tune run's: the study's or the suite's
    folder: Path
    source: Path  # the study or suite file
    tasks: list[tuple[StudySpec, Where]]
    suite: SuiteSpec | None  # None: a study (a suite of one), with no suite run, file or report
    log: Path  # where the libraries' output goes when it does not go to the terminal

    def lost(self, cluster: Cluster, watch: ClusterWatch) -> RayLost:
        recorded = to_go = 0
        for spec, where in self.tasks:
            rows = TrialsTable(where.folder.table).rows()
            recorded += len(rows)
            to_go += sum(trials_left(spec, rows))
        what = "the embedded Ray instance" if cluster.address == "local" else f"the Ray cluster at {cluster.address}"
        tables = f"the tasks' {TABLE_FILE} under {self.folder}" if self.suite is not None else None
        return RayLost(what, watch.lost or "", recorded, to_go, self.folder, tables=tables)


def run_study(
    spec: StudySpec,
    study_file: Path,
    reports: Reports,
    *,
    out_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    address: str | None = None,
    console: TextIO | None = None,
    folder: str | None = None,
    library_log: bool = False,
    on_ray_lost: Callable[[RayLost], None] | None = None,
    rounds: tuple[Rounds, str] | None = None,
    code_changed: bool = False,
) -> StudyOutcome:
    """Run (or resume) ``spec`` into ``OUT/<study name>`` (``OUT/<folder>`` when given), printing the study's lines
    to ``console`` (default: standard output). With ``library_log``, the libraries' own output goes to the study
    folder's ``study.log`` instead of the terminal.

    When the Ray instance is lost, ``RayLost`` is raised; if Ray's core holds the main thread so that it cannot be,
    ``on_ray_lost`` gets it from another thread and should end the process (Ray's core would, a minute later).

    ``rounds`` replaces what decides a sequential study's seeds (each method against the reference) with another
    function of the rows, and what its lines say they compare with (the nightly: each method's baseline).

    ``code_changed`` resumes a folder whose study's own code (its data or model factory) changed since it started."""
    started = time.monotonic()
    spec, where = prepare(spec, study_file, out_dir, tracking_uri, address, folder, code_changed)
    tasks = _Tasks(spec.name, where.folder.path, study_file, [(spec, where)], None, where.folder.log)
    [outcome], _ = _run(tasks, reports, started, address, console, library_log, on_ray_lost, rounds)
    return outcome


def run_suite(
    suite: SuiteSpec,
    suite_file: Path,
    reports: Reports,
    *,
    out_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    address: str | None = None,
    console: TextIO | None = None,
    library_log: bool = False,
    on_ray_lost: Callable[[RayLost], None] | None = None,
    code_changed: bool = False,
) -> SuiteOutcome:
    """Run (or resume) every task of ``suite`` into ``OUT/<suite>/<task>``, then the suite report into
    ``OUT/<suite>``. Errors and Ray's loss behave as in ``run_study``."""
    started = time.monotonic()
    prepared = [
        prepare(task, suite_file, out_dir, tracking_uri, address, f"{suite.name}/{task.name}", code_changed)
        for task in suite.tasks
    ]
    suite_dir = prepared[0][1].out / suite.name
    tasks = _Tasks(suite.name, suite_dir, suite_file, prepared, suite, suite_dir / LOG_FILE)
    _check_suite_folder(suite, suite_dir)
    resolved = suite.model_copy(update={"tasks": tuple(spec for spec, _ in prepared)}).model_dump(mode="json")
    write_study_file(suite_dir / SUITE_FILE, resolved)
    _, suite_run = _run(tasks, reports, started, address, console, library_log, on_ray_lost, None)
    assert suite_run is not None  # a suite's run always opens a suite run
    return suite_run


def _run(
    tasks: _Tasks,
    reports: Reports,
    started: float,
    address: str | None,
    console: TextIO | None,
    library_log: bool,
    on_ray_lost: Callable[[RayLost], None] | None,
    rounds: tuple[Rounds, str] | None,
) -> tuple[list[StudyOutcome], SuiteOutcome | None]:
    """The skeleton every run shares: the libraries' output, Ray for the length of the run, the suite's run, each
    task's study, one Tune run, each task finished, the suite finished."""
    with contextlib.ExitStack() as stack:
        if library_log:
            stack.enter_context(library_output_to(tasks.log))
        console = console or sys.stdout  # read only now: library_output_to replaces it
        log = tasks.log if library_log else None
        code = tuple(dict.fromkeys(folder for _, where in tasks.tasks for folder in where.code))
        with ray_session(address, stack, on_ray_lost, tasks.lost, code) as cluster:
            ray_start_s = time.monotonic() - started
            suite = _open_suite(tasks, cluster, console, log) if tasks.suite is not None else None
            suite_run = SuiteRun(tasks.name, suite.parent_run_id) if suite is not None else None
            studies = [
                open_study(spec, tasks.source, where, cluster, console, log, suite=suite_run)
                for spec, where in tasks.tasks
            ]
            for study in studies:
                study.rounds = rounds
                study.timings.ray_start_s = ray_start_s
            if suite is not None:
                suite.keep_going(lambda message: print(f"warning: {message}", file=console, flush=True))
            done = run_trials(studies, tasks.name, tasks.folder)
            outcomes = [
                finish(study, trials, started, reports.study) for study, trials in zip(studies, done, strict=True)
            ]
            if suite is None:
                return outcomes, None
            return outcomes, _finish_suite(tasks, suite, outcomes, reports, console, started, ray_start_s)
    raise AssertionError("unreachable")  # the with block returns or raises


def _open_suite(tasks: _Tasks, cluster: Cluster, console: TextIO, log: Path | None) -> StudyTracking:
    """The suite's MLflow run, its file and resolved tasks on it; the suite's header."""
    assert tasks.suite is not None
    where = tasks.tasks[0][1]
    tracking = StudyTracking(where.uri, tasks.name, tasks.folder, artifact_root(where), role=SUITE_ROLE)
    resolved = tasks.suite.model_copy(update={"tasks": tuple(spec for spec, _ in tasks.tasks)})
    tracking.log_suite(tasks.source, resolved.model_dump(mode="json"))
    record_run(tasks.folder, where.uri, tracking)
    print(_suite_header(tasks, cluster, where.uri, tracking.parent_run_id), file=console, flush=True)
    if log is not None:
        print(f"Ray's, MLflow's and Optuna's own output: {log} (--verbose: here)", file=console)
    return tracking


def _finish_suite(
    tasks: _Tasks,
    tracking: StudyTracking,
    outcomes: list[StudyOutcome],
    reports: Reports,
    console: TextIO,
    started: float,
    ray_start_s: float,
) -> SuiteOutcome:
    """The suite report over every task, onto the suite's run; the suite's run ends."""
    timings = Timings(ray_start_s=ray_start_s)
    if reports.suite is not None:
        write = reports.suite
        again = f"sam-study report {tasks.folder}"
        timings.report_s = log_report(lambda out: write(tasks.folder, out), tracking, console, again, "suite report")
    tracking.finish()
    uri = tasks.tasks[0][1].uri
    print(ui_hint(uri, tracking.experiment_id, tracking.parent_run_id), file=console, flush=True)
    timings.total_s = time.monotonic() - started
    lost_tracking = tracking.lost or next((o.tracking_lost for o in outcomes if o.tracking_lost), None)
    return SuiteOutcome(tasks.folder, uri, tracking.parent_run_id, outcomes, timings, lost_tracking)


def _check_suite_folder(suite: SuiteSpec, suite_dir: Path) -> None:
    """A suite folder may hold studies only as tasks of this suite: a study folder there of another name would be
    reported as a task it is not."""
    if table_exists(suite_dir / TABLE_FILE):
        raise StudySpecError(
            f"{suite_dir} holds a study, not a suite; run the suite into another folder with --out, or rename it"
        )


def _suite_header(tasks: _Tasks, cluster: Cluster, uri: str, run_id: str) -> str:
    assert tasks.suite is not None
    suite = tasks.suite
    return (
        f"suite {suite.name}: {len(suite.tasks)} tasks ({', '.join(suite.task_names)}), each a study in its own "
        f"folder under {tasks.folder}; Ray at {cluster.address} ({cluster.nodes} node(s), {cluster.cpus:g} CPU, "
        f"{cluster.gpus:g} GPU); MLflow at {uri} (suite run {run_id})"
    )
