"""The phases of a run on the driver once Ray is up, each a named step (``preparation`` holds what comes before
Ray): ``open_study`` (its MLflow run, trials table and slots), ``run_trials`` (every trial of every task in one
Tune run), ``finish`` (summary, report, MLflow). ``pipeline.study.driver`` calls them in order, for a study and
for a suite's tasks alike.

Every finished trial becomes a trials-table row at once (``recorder``). Re-running on the same folder resumes:
a trial whose key is in the table is not run again, and what runs next is decided from the table alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipeline.provenance import git_commit
from pipeline.results.folder import RAY_RUNS_DIR, TrackingRecord, record_tracking
from pipeline.results.report_files import ReportFiles
from pipeline.results.row import TrialRow
from pipeline.results.selection import Selection, objective, select_all
from pipeline.results.study_results import StudyResults, rows_of
from pipeline.results.table import TableWriteError, TrialsTable
from pipeline.seeding import search_seed
from pipeline.spec.study import MethodSpec, StudySpec, StudySpecError
from pipeline.study import ray_tune
from pipeline.study.batch_search import Batches
from pipeline.study.errors import StudyInterrupted, StudyWriteError
from pipeline.study.mlflow.parent import StudyTracking, SuiteRun
from pipeline.study.mlflow.secrets import credential_vars
from pipeline.study.mlflow.uri import check_cluster, ui_hint
from pipeline.study.plan import Phase, Tracking, TrialPlan, eval_key, make_plan, search_id, trials_left, tune_key
from pipeline.study.preparation import Where, artifact_root, write_study_file
from pipeline.study.ray_cluster import Cluster
from pipeline.study.ray_tune import AshaSettings, RunSettings
from pipeline.study.recorder import Recorder, decision_line
from pipeline.study.search_space import search_space
from pipeline.study.stream import Rounds, Search, StudyStream, TrialSource
from pipeline.study.suite_stream import SuiteStream
from pipeline.study.time_left import TimeLeft

# The report of a finished study (or of a finished suite's folder): writes its files, prints its lines, and says
# what to log. The caller (``pipeline.cli``) passes it in: the orchestrator never imports ``pipeline.report``.
StudyReport = Callable[[StudyResults, TextIO], ReportFiles]
SuiteReport = Callable[[Path, TextIO], ReportFiles]


@dataclass
class Timings:
    """Where a run's wall time went, in seconds (``sam-study bench study`` prints them)."""

    ray_start_s: float = 0.0
    trials_s: float = 0.0
    report_s: float = 0.0
    total_s: float = 0.0


@dataclass
class StudyOutcome:
    study_dir: Path
    tracking_uri: str
    parent_run_id: str
    cluster: Cluster
    slots: int
    selections: dict[str, Selection]
    rows: list[TrialRow]
    timings: Timings
    ran_trials: int = 0
    tracking_lost: str | None = None  # why MLflow missed part of the study (run `sam-study sync-mlflow`)
    experiment_id: str = ""


@dataclass
class RunningStudy:
    """A study between its start and its end: what each phase reads and adds to."""

    spec: StudySpec
    where: Where
    cluster: Cluster
    tracking: StudyTracking
    plan_tracking: Tracking
    table: TrialsTable
    slots: int
    settings: RunSettings
    commit: str
    console: TextIO  # where the study's lines are printed
    label: str  # a suite's task: its name starts each of its lines ("" for a study)
    timings: Timings = field(default_factory=Timings)
    rounds: tuple[Rounds, str] | None = None  # what decides sequential seeds, and against what (default: reference)


# ------------------------------------------------------------------------------------------------ the phases


def open_study(
    spec: StudySpec,
    study_file: Path,
    where: Where,
    cluster: Cluster,
    console: TextIO,
    library_log: Path | None,
    suite: SuiteRun | None = None,
) -> RunningStudy:
    """The MLflow parent run (nested under ``suite``'s run when the study is a suite's task), the trials table, the
    slots; prints the study's header."""
    check_cluster(where.uri, cluster.nodes)
    tracking = StudyTracking(where.uri, spec.name, where.folder.path, artifact_root(where), suite=suite)
    tracking.log_study(study_file, spec.model_dump(mode="json"))
    plan_tracking = Tracking(where.uri, tracking.experiment_id, tracking.parent_run_id)
    record_run(where.folder.path, where.uri, tracking)
    table = TrialsTable(where.folder.table)
    _compact(table)  # a study stopped short left its rows as parts: its readers from now on read one file
    removed = tracking.remove_unrecorded_children(table.keys())
    slots = _slots(spec, cluster)
    if suite is None:
        header = _header(spec, where, cluster, slots, tracking.parent_run_id, len(table))
    else:  # a suite's task: where Ray and MLflow are, the suite's header said
        header = _task_header(spec, where, tracking.parent_run_id, len(table))
    print(header, file=console, flush=True)
    if library_log is not None and suite is None:
        print(f"Ray's, MLflow's and Optuna's own output: {library_log} (--verbose: here)", file=console, flush=True)
    if removed:
        print(f"removed {removed} MLflow child run(s) of trials that were interrupted", file=console)
    # From here on the study outlives its MLflow server: the trials table keeps everything.
    tracking.keep_going(lambda message: print(f"warning: {message}", file=console, flush=True))
    settings = RunSettings(
        storage_path=str(where.out / RAY_RUNS_DIR),
        name=spec.name,
        cpu=spec.resources.cpu,
        gpu=spec.resources.gpu,
        # Tune hands a searcher's trials out one pending at a time unless it knows the concurrency: with the slots,
        # the first trials start together, one per free worker, on every node.
        max_concurrent=slots,
        retries=spec.retries,
        workers=spec.workers_per_trial,
    )
    label = spec.name if suite is not None else ""
    return RunningStudy(
        spec, where, cluster, tracking, plan_tracking, table, slots, settings, git_commit(), console, label
    )


def record_run(folder: Path, uri: str, tracking: StudyTracking) -> None:
    """mlflow.json in ``folder``: where its MLflow run is, for `sam-study report` and `sync-mlflow`."""
    credentials = tuple(credential_vars(uri))
    record_tracking(folder, TrackingRecord(uri, tracking.experiment_id, tracking.parent_run_id, credentials))


@dataclass(frozen=True)
class StudyTrials:
    """What the Tune run left a study with: its selected configurations, and how many trials it ran this time."""

    selections: dict[str, Selection]
    ran: int


def run_trials(studies: list[RunningStudy], name: str, folder: Path) -> list[StudyTrials]:
    """Every trial of the studies (one, or a suite's tasks) in one Tune run named ``name``: the searches, and each
    method's evaluation seeds from the moment its configuration is known; with sequential seeds, round after round
    while its comparison is undecided."""
    started = time.monotonic()
    time_left = TimeLeft(studies[0].slots)  # one estimate over every task: a suite's trials share the slots
    recorders: list[Recorder] = []

    def pending() -> list[str]:
        return [key for recorder in recorders for key in recorder.left()]

    most = [trials_left(s.spec, s.table.rows())[0] + _most_evaluation_trials(s) for s in studies]  # Tune's bound
    for study, at_most in zip(studies, most, strict=True):
        trials = _study_stream(study)
        recorders.append(Recorder(study.table, study.tracking, study.console, trials, time_left, pending, study.label))
        recorders[-1].announce(at_most)
    time_left.begin(pending())
    by_study = {study.spec.name: recorder for study, recorder in zip(studies, recorders, strict=True)}
    source: TrialSource = recorders[0].trials if len(studies) == 1 else SuiteStream([r.trials for r in recorders])
    asha = {s.spec.name: _asha(s.spec) for s in studies if s.spec.tuning.scheduler == "asha"}
    settings = dataclasses.replace(studies[0].settings, name=name)
    ray_tune.run_stream(source, settings, lambda outcome: by_study[outcome.plan.study](outcome), asha, sum(most))
    left = 0
    for study, recorder in zip(studies, recorders, strict=True):
        study.timings.trials_s = time.monotonic() - started
        left += trials_left(study.spec, study.table.rows())[0] + len(recorder.trials.evaluation_left())
    if left:
        raise StudyInterrupted(
            f"the {'study' if len(studies) == 1 else 'suite'} stopped with {left} trial(s) to go", folder
        )
    done = []
    for study, recorder in zip(studies, recorders, strict=True):
        done.append(StudyTrials(select_all(study.spec, study.table.rows()), recorder.ran))
        _selected(study, done[-1].selections)
    return done


def _asha(spec: StudySpec) -> AshaSettings:
    return AshaSettings(
        max_t=spec.training.epochs + 1,  # +1: the trial's final report after its last epoch
        grace_period=spec.tuning.grace_period,
        reduction_factor=spec.tuning.reduction_factor,
    )


def _study_stream(study: RunningStudy) -> StudyStream:
    """The study's stream of trials: its searches, its evaluation plans, its decisions printed."""
    spec = study.spec
    against, metric = study.rounds[1] if study.rounds else spec.reference, spec.statistics.metric
    if study.rounds and spec.regression is not None:
        metric = spec.regression.metric
    prefix = f"{study.label}: " if study.label else ""
    return StudyStream(
        spec,
        study.table,
        _searches(study),
        lambda method, seed, params, round_: _plan(
            study, method, "eval", seed, params, eval_key(method.name, seed), round=round_
        ),
        on_selected=lambda selections: _selected(study, selections),
        on_decided=lambda decision: print(
            prefix + decision_line(decision, against, metric), file=study.console, flush=True
        ),
        rounds=study.rounds[0] if study.rounds else None,
    )


def _most_evaluation_trials(study: RunningStudy) -> int:
    """Evaluation trials not yet recorded, at most (sequential: as if every comparison ran to ``max``)."""
    recorded = study.table.keys()
    return sum(
        1 for m in study.spec.methods for s in study.spec.evaluation.seed_list if eval_key(m.name, s) not in recorded
    )


def _selected(study: RunningStudy, selections: dict[str, Selection]) -> None:
    """selection.json with every configuration known so far; a warning for a method none of whose tuning
    trials finished."""
    path = study.where.folder.selection
    before = json.loads(path.read_text()) if path.exists() else {}
    write_study_file(path, {k: v.to_dict() for k, v in selections.items()})
    study.tracking.log_file(path)
    for selection in selections.values():
        if selection.source == "fallback" and selection.method not in before:
            print(
                f"warning: no tuning trial of {selection.method} finished; it is evaluated with the values "
                "written in the study file",
                file=study.console,
                flush=True,
            )


def finish(study: RunningStudy, trials: StudyTrials, started: float, report: StudyReport) -> StudyOutcome:
    """The summary and the report; the parent run ends; the link to the study in the MLflow UI."""
    selections = trials.selections
    folder = study.where.folder
    shutil.rmtree(folder.checkpoints, ignore_errors=True)  # every trial is done: no resume needs them
    rows = study.table.rows()
    _compact(study.table)  # every trial is in: its parts become the one trials.parquet that MLflow gets
    study.tracking.log_file(folder.table)
    finished = StudyResults(folder.path, study.spec, rows, selections)
    study.timings.report_s = log_report(
        lambda console: report(finished, console), study.tracking, study.console, f"sam-study report {folder.path}"
    )
    study.tracking.finish()
    tracked = study.plan_tracking
    print(ui_hint(tracked.uri, tracked.experiment_id, tracked.parent_run_id), file=study.console, flush=True)
    study.timings.total_s = time.monotonic() - started
    return StudyOutcome(
        folder.path,
        tracked.uri,
        tracked.parent_run_id,
        study.cluster,
        study.slots,
        selections,
        rows,
        study.timings,
        trials.ran,
        tracking_lost=study.tracking.lost,
        experiment_id=tracked.experiment_id,
    )


# ------------------------------------------------------------------------------------------------ the steps


def _compact(table: TrialsTable) -> None:
    try:
        table.compact()
    except TableWriteError as error:
        raise StudyWriteError(str(error)) from error


def _slots(spec: StudySpec, cluster: Cluster) -> int:
    """Trials at a time: what the cluster holds of a trial's resources (all its workers' together)."""
    n = spec.workers_per_trial
    by_cpu = math.floor(cluster.cpus / (n * spec.resources.cpu)) if spec.resources.cpu else math.inf
    by_gpu = math.floor(cluster.gpus / (n * spec.resources.gpu)) if spec.resources.gpu else math.inf
    slots = min(by_cpu, by_gpu, spec.max_concurrent or math.inf)
    slots = int(slots) if math.isfinite(slots) else 1
    if slots < 1:
        raise StudySpecError(
            f"the Ray cluster ({cluster.cpus:g} CPU, {cluster.gpus:g} GPU) cannot place one trial: "
            f"workers_per_trial {spec.workers_per_trial} × resources (cpu {spec.resources.cpu:g}, gpu "
            f"{spec.resources.gpu:g}) each; use fewer workers or smaller resources, or a larger cluster"
        )
    return slots


def _header(spec: StudySpec, where: Where, cluster: Cluster, slots: int, parent_run_id: str, done: int) -> str:
    return (
        f"study {spec.name}: {len(spec.methods)} methods, {_seeds_phrase(spec)}; Ray at "
        f"{cluster.address} ({cluster.nodes} node(s), {cluster.cpus:g} CPU, {cluster.gpus:g} GPU; {slots} "
        f"trial(s) at a time); results in {where.folder.path}; MLflow at {where.uri} (parent run "
        f"{parent_run_id})" + (f"; resuming: {done} trial(s) done" if done else "")
    )


def _task_header(spec: StudySpec, where: Where, parent_run_id: str, done: int) -> str:
    return (
        f"task {spec.name}: {len(spec.methods)} methods, {_seeds_phrase(spec)}; results in {where.folder.path} "
        f"(MLflow run {parent_run_id})" + (f"; resuming: {done} trial(s) done" if done else "")
    )


def _seeds_phrase(spec: StudySpec) -> str:
    seeds = spec.evaluation.seeds
    if isinstance(seeds, tuple):
        return f"{len(seeds)} seeds"
    return f"{seeds.start} seeds, then {seeds.step} more per round while undecided, at most {seeds.max}"


def _searches(study: RunningStudy) -> list[Search]:
    """One ``Search`` per tuned method and repeat, with the trials the table already holds."""
    spec, rows = study.spec, study.table.rows()
    searches = []
    for method in spec.methods:
        if not method.tuned:
            continue
        for repeat in range(spec.tuning.repeats):
            done = [r for r in rows_of(rows, "tune", method.name) if r.search == repeat]

            def plan_for(
                params: dict[str, Any], index: int, method: MethodSpec = method, repeat: int = repeat
            ) -> TrialPlan:
                key = tune_key(method.name, repeat, index)
                seed = spec.tuning.train_seed + repeat
                return _plan(study, method, "tune", seed, params, key, search=repeat, trial_index=index)

            searches.append(
                Search(
                    search_id=search_id(method.name, repeat),
                    method=method.name,
                    space=search_space(method),
                    seed=search_seed(spec.tuning.seed, repeat, method.name),
                    batches=Batches(spec.tuning.startup_trials, spec.tuning.parallel),
                    budget=spec.tuning.trials,
                    history={r.trial_index: (r.params, objective(r)) for r in done if r.trial_index is not None},
                    make_plan=plan_for,
                )
            )
    return searches


def _plan(
    study: RunningStudy, method: MethodSpec, phase: Phase, seed: int, params: dict[str, Any], key: str, **where: Any
) -> TrialPlan:
    return make_plan(
        study.spec,
        method,
        phase,
        seed,
        params,
        key=key,
        study_dir=str(study.where.folder.path),
        tracking=study.plan_tracking,
        git_commit=study.commit,
        **where,
    )


def log_report(
    write: Callable[[TextIO], ReportFiles], tracking: StudyTracking, console: TextIO, again: str, what: str = "report"
) -> float:
    """A report written (by ``write``, which prints its lines) into its folder and logged onto its MLflow run; the
    seconds it took. A report that fails is a warning: every trial is safe in the tables, and ``again`` makes it."""
    started = time.monotonic()
    try:
        files = write(console)
        tracking.log_report(files.files, files.figures_dir, files.tags)
    except Exception as error:  # noqa: BLE001 - every trial is safe in the table; the report can be made again
        print(
            f"warning: the {what} could not be written ({type(error).__name__}: {error}); every trial is kept, "
            f"make it with `{again}`",
            file=console,
        )
    return time.monotonic() - started
