"""``run_study``: a whole study, top to bottom, on the driver.

prepare the study folder (refuse one made by a different spec) -> start Ray -> check the tracking
location -> open the MLflow parent run -> tuning phase (Optuna searches on Ray Tune) -> select each
method's configuration on validation accuracy -> evaluation phase (method x seed) -> summary.

Every finished trial becomes a trials-table row at once. Re-running on the same folder resumes:
a trial whose key is in the table is not run again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipeline.data import DatasetError, check_dataset
from pipeline.cli.report import print_outcome
from pipeline.report.write import record_tracking, write_report, write_text_atomically
from pipeline.study import ray_tune
from pipeline.study.batch_search import Batches
from pipeline.study.plan import (
    CHECKPOINTS,
    Tracking,
    TrialPlan,
    eval_key,
    make_plan,
    sampler_seed,
    search_id,
    trials_left,
    tune_key,
)
from pipeline.results.table import TABLE_NAME, TableWriteError, TrialsTable
from pipeline.study.recording import trial_row
from pipeline.study.search_space import search_space
from pipeline.results.selection import Selection, objective, select_all
from pipeline.spec.study import SPEC_FILE, StudySpec, StudySpecError, comparable
from pipeline.study.mlflow.tracking import (
    StudyTracking,
    check_cluster,
    check_tracking_uri,
    credential_vars,
    default_tracking_uri,
    is_server,
    redact,
    use_credentials,
)
from pipeline.study.ray_tune import Cluster, RunSettings, Search, TrialOutcome


class StudyInterrupted(RuntimeError):
    """The study stopped before its last trial (Ctrl-C, a stopped cluster); what finished is kept."""

    def __init__(self, what: str, study_dir: Path) -> None:
        super().__init__(
            f"{what}; the {TABLE_NAME} in {study_dir} keeps every finished trial: run the same command again to resume"
        )


class StudyWriteError(RuntimeError):
    """A file of the study folder could not be written (a full disk, an unwritable folder). The study stops;
    every trial recorded before is kept, whole."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; free space or make the folder writable, then run the same command again to resume")


class _StopStudy(BaseException):
    """Carries a StudyWriteError out of a Ray Tune callback. Tune catches every Exception a callback raises,
    marks the trial failed and runs on; a study that cannot record its trials must stop at once instead."""

    def __init__(self, error: StudyWriteError) -> None:
        super().__init__(str(error))
        self.error = error


def _write_study_file(path: Path, text: str) -> None:
    """spec.json, selection.json: whole or not at all (write, then rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, text)
    except OSError as error:
        raise StudyWriteError(f"cannot write {path}: {error}") from error


@dataclass
class StudyOutcome:
    study_dir: Path
    tracking_uri: str
    parent_run_id: str
    cluster: Cluster
    slots: int
    selections: dict[str, Selection]
    rows: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    ran_trials: int = 0
    tracking_lost: str | None = None  # why MLflow missed part of the study (run `sam-study sync-mlflow`)


def git_commit() -> str:
    """The commit of the code that runs the study (``+dirty`` when the tree has changes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def code_digest() -> str:
    """A digest of the project's Python sources: equal digests mean the same code ran, with or without git
    (an installed copy, a dirty tree). The nightly's exact-reproduction check compares it."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _absolute_paths(spec: StudySpec) -> StudySpec:
    """Ray runs trials in their own working folders: make every path in the spec absolute."""
    if spec.data.root is None:
        return spec
    data = spec.data.model_copy(update={"root": str(Path(spec.data.root).expanduser().resolve())})
    return spec.model_copy(update={"data": data})


def _check_data(spec: StudySpec, study_file: Path) -> None:
    """The dataset's files, checked before the study folder or Ray exist: a missing or truncated CIFAR file would
    otherwise fail every trial, one after another, inside Ray."""
    try:
        check_dataset(spec.data)
    except DatasetError as error:
        raise StudySpecError(f"{study_file}: data.root: {error}") from None


def _prepare_folder(spec: StudySpec, study_dir: Path) -> None:
    """A study folder belongs to one spec: resuming it with a different one would mix two studies.
    ``spec.json`` holds the whole spec (the report reads it); only the fields that decide results must agree."""
    recorded = study_dir / SPEC_FILE
    current = spec.comparable_dump()
    if recorded.exists():
        before = comparable(json.loads(recorded.read_text()))
        if before != current:
            changed = sorted(k for k in set(before) | set(current) if before.get(k) != current.get(k))
            raise StudySpecError(
                f"{study_dir} holds study {spec.name!r} run with different settings ({', '.join(changed)} changed); "
                "resume it with the same study file, or pass a new --out"
            )
    _write_study_file(recorded, json.dumps(spec.model_dump(mode="json"), indent=2) + "\n")


def _slots(spec: StudySpec, cluster: Cluster) -> int:
    """Trials at a time: what the cluster holds of a trial's resources (all its workers' together)."""
    n = spec.workers_per_trial
    by_cpu = math.floor(cluster.cpus / (n * spec.resources.cpu)) if spec.resources.cpu else math.inf
    by_gpu = math.floor(cluster.gpus / (n * spec.resources.gpu)) if spec.resources.gpu else math.inf
    slots = min(by_cpu, by_gpu, spec.max_concurrent or math.inf)
    return int(slots) if math.isfinite(slots) else 1


class _Progress:
    """One line per finished trial, and the trials-table append."""

    def __init__(self, table: TrialsTable, tracking: StudyTracking, stream: TextIO) -> None:
        self.table, self.tracking, self.stream = table, tracking, stream
        self.started = time.monotonic()
        self.phase_total = 0
        self.phase_done = 0
        self.ran = 0
        self.provenance = {f"version.{name}": _version(name) for name in STACK}
        self.provenance["code_digest"] = code_digest()

    def begin(self, phase: str, total: int) -> None:
        self.phase_total, self.phase_done = total, 0
        print(f"{phase}: {total} trial(s) to run", file=self.stream, flush=True)

    def __call__(self, outcome: TrialOutcome) -> None:
        plan = outcome.plan
        if plan.key in self.table.keys():  # noqa: SIM118 - a TrialsTable, not a dict
            return  # a duplicate report of a recorded trial (Ray re-delivers after a driver restart)
        row = trial_row(
            plan,
            status=outcome.status,
            result=outcome.result,
            node=outcome.node,
            error=outcome.error,
            stopped_by_scheduler=outcome.stopped_by_scheduler,
            partial=outcome.last_epoch,
            mlflow_run_id=outcome.mlflow_run_id,
        )
        row.update(self.provenance)
        try:
            self.table.append(row)
        except TableWriteError as error:
            raise _StopStudy(StudyWriteError(str(error))) from error
        self.ran += 1
        self.phase_done += 1
        if outcome.mlflow_run_id and (outcome.stopped_by_scheduler or outcome.status == "failed"):
            self.tracking.close_child(outcome.mlflow_run_id, "stopped" if outcome.stopped_by_scheduler else "failed")
        print(self._line(plan, row), file=self.stream, flush=True)

    def _line(self, plan: TrialPlan, row: dict[str, Any]) -> str:
        elapsed = time.monotonic() - self.started
        where = (
            f"{plan.method} search {plan.search} trial {plan.trial_index}"
            if plan.phase == "tune"
            else (f"{plan.method} seed {plan.seed}")
        )
        params = " ".join(f"{k}={_fmt(v)}" for k, v in sorted(plan.params.items()))
        score = f"val {_fmt(row.get('val_accuracy'))}" + (
            f" test {_fmt(row.get('test_accuracy'))}" if plan.phase == "eval" else ""
        )
        status = row["status"] + (" (stopped by ASHA)" if row["stopped_by_scheduler"] else "")
        if row.get("error"):
            status += f": {row['error']}"
        wall = row.get("wall_time_s")
        return (
            f"[{plan.phase} {self.phase_done}/{self.phase_total}] {where} {params} {score} {status}"
            f" ({_fmt(wall)} s; {elapsed:.0f} s elapsed)"
        ).replace("  ", " ")


STACK = ("ray", "optuna", "mlflow", "pandas", "pyarrow", "scipy")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _searches(
    spec: StudySpec,
    rows: list[dict[str, Any]],
    study_dir: Path,
    tracking: Tracking,
    commit: str,
) -> list[Search]:
    searches = []
    for method in spec.methods:
        if not method.tuned:
            continue
        for repeat in range(spec.tuning.repeats):
            done = [r for r in rows if r["phase"] == "tune" and r["method"] == method.name and r["search"] == repeat]

            def plan_for(
                params: dict[str, Any],
                index: int,
                method: Any = method,
                repeat: int = repeat,
            ) -> TrialPlan:
                return make_plan(
                    spec,
                    method,
                    "tune",
                    spec.tuning.train_seed + repeat,
                    params,
                    key=tune_key(method.name, repeat, index),
                    study_dir=str(study_dir),
                    tracking=tracking,
                    git_commit=commit,
                    search=repeat,
                    trial_index=index,
                )

            searches.append(
                Search(
                    search_id=search_id(method.name, repeat),
                    space=search_space(method),
                    seed=sampler_seed(spec, method, repeat),
                    batches=Batches(spec.tuning.startup_trials, spec.tuning.parallel),
                    budget=spec.tuning.trials,
                    history={int(r["trial_index"]): (json.loads(r["params_json"]), objective(r)) for r in done},
                    make_plan=plan_for,
                )
            )
    return searches


def _eval_plans(
    spec: StudySpec,
    selections: dict[str, Selection],
    recorded: set[str],
    study_dir: Path,
    tracking: Tracking,
    commit: str,
) -> list[TrialPlan]:
    plans = []
    # Seed-major order: if a study is cut short, every method has the same seeds done (pairs stay whole).
    for seed in spec.evaluation.seeds:
        for method in spec.methods:
            key = eval_key(method.name, seed)
            if key in recorded:
                continue
            params = selections[method.name].params
            plans.append(
                make_plan(
                    spec,
                    method,
                    "eval",
                    seed,
                    params,
                    key=key,
                    study_dir=str(study_dir),
                    tracking=tracking,
                    git_commit=commit,
                )
            )
    return plans


def run_study(
    spec: StudySpec,
    study_file: Path,
    *,
    out_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    address: str | None = None,
    stream: TextIO = sys.stdout,
    folder: str | None = None,
) -> StudyOutcome:
    """Run (or resume) ``spec`` into ``OUT/<study name>`` (``OUT/<folder>`` when given)."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    spec = _absolute_paths(spec)
    _check_data(spec, study_file)
    out = Path(out_dir if out_dir is not None else spec.output.dir).expanduser().resolve()
    study_dir = out / (folder or spec.name)
    # A password in the URI moves into the environment here: from now on the URI may be printed and recorded.
    uri = use_credentials(tracking_uri or spec.output.tracking_uri or default_tracking_uri(out), address)
    if spec.output.tracking_uri is not None:  # spec.json and the MLflow params show it as http://user:***@host
        output = spec.output.model_copy(update={"tracking_uri": redact(spec.output.tracking_uri)})
        spec = spec.model_copy(update={"output": output})
    check_tracking_uri(uri)
    _prepare_folder(spec, study_dir)

    cluster = ray_tune.start_ray(address)
    timings["ray_start_s"] = time.monotonic() - started
    try:
        check_cluster(uri, cluster.nodes)
        study_tracking = StudyTracking(uri, spec.name, study_dir, None if is_server(uri) else out / "mlartifacts")
        study_tracking.log_study(study_file, spec.model_dump(mode="json"))
        tracking = Tracking(uri, study_tracking.experiment_id, study_tracking.parent_run_id)
        record_tracking(
            study_dir, uri, study_tracking.experiment_id, study_tracking.parent_run_id, credential_vars(uri)
        )
        table = TrialsTable(study_dir / TABLE_NAME)
        removed = study_tracking.remove_unrecorded_children(table.keys())
        slots = _slots(spec, cluster)
        if slots < 1:
            raise StudySpecError(
                f"the Ray cluster ({cluster.cpus:g} CPU, {cluster.gpus:g} GPU) cannot place one trial: "
                f"workers_per_trial {spec.workers_per_trial} × resources (cpu {spec.resources.cpu:g}, gpu "
                f"{spec.resources.gpu:g}) each; use fewer workers or smaller resources, or a larger cluster"
            )
        print(
            f"study {spec.name}: {len(spec.methods)} methods, {len(spec.evaluation.seeds)} seeds; Ray at "
            f"{cluster.address} ({cluster.nodes} node(s), {cluster.cpus:g} CPU, {cluster.gpus:g} GPU; {slots} "
            f"trial(s) at a time); results in {study_dir}; MLflow at {uri} (parent run "
            f"{tracking.parent_run_id})" + (f"; resuming: {len(table)} trial(s) done" if len(table) else ""),
            file=stream,
            flush=True,
        )
        if removed:
            print(
                f"removed {removed} MLflow child run(s) of trials that were interrupted",
                file=stream,
            )
        # From here on the study outlives its MLflow server: the trials table keeps everything.
        study_tracking.keep_going(lambda message: print(f"warning: {message}", file=stream, flush=True))
        progress = _Progress(table, study_tracking, stream)
        settings = {
            "storage_path": str(out / "ray"),
            "cpu": spec.resources.cpu,
            "gpu": spec.resources.gpu,
            "max_concurrent": spec.max_concurrent if spec.workers_per_trial == 1 else slots,
            "retries": spec.retries,
            "workers": spec.workers_per_trial,
        }
        commit = git_commit()

        phase_started = time.monotonic()
        searches = _searches(spec, table.rows(), study_dir, tracking, commit)
        progress.begin("tuning", sum(s.remaining for s in searches))
        asha = None
        if spec.tuning.scheduler == "asha":
            asha = {
                "max_t": spec.training.epochs + 1,  # +1: the trial's final report after its last epoch
                "grace_period": spec.tuning.grace_period,
                "reduction_factor": spec.tuning.reduction_factor,
            }
        ray_tune.run_searches(searches, RunSettings(name=f"{spec.name}-tune", **settings), progress, asha)
        timings["tuning_s"] = time.monotonic() - phase_started
        left = trials_left(spec, table.rows())[0]
        if left:
            raise StudyInterrupted(f"the tuning phase stopped with {left} trial(s) to go", study_dir)

        selections = select_all(spec, table.rows())
        _write_study_file(
            study_dir / "selection.json",
            json.dumps({k: v.to_dict() for k, v in selections.items()}, indent=2) + "\n",
        )
        study_tracking.log_file(study_dir / "selection.json")
        for selection in selections.values():
            if selection.source == "fallback":
                print(
                    f"warning: no tuning trial of {selection.method} finished; it is evaluated with the values "
                    "written in the study file",
                    file=stream,
                )

        phase_started = time.monotonic()
        plans = _eval_plans(spec, selections, table.keys(), study_dir, tracking, commit)
        progress.begin("evaluation", len(plans))
        ray_tune.run_plans(plans, RunSettings(name=f"{spec.name}-eval", **settings), progress)
        timings["evaluation_s"] = time.monotonic() - phase_started
        left = trials_left(spec, table.rows())[1]
        if left:
            raise StudyInterrupted(f"the evaluation phase stopped with {left} trial(s) to go", study_dir)

        shutil.rmtree(study_dir / CHECKPOINTS, ignore_errors=True)  # every trial is done: no resume needs them
        rows = table.rows()
        print(summary_table(spec, rows, selections), file=stream, flush=True)
        study_tracking.log_file(table.path)
        timings["report_s"] = _report(study_dir, study_tracking, stream)
        study_tracking.finish()
        timings["total_s"] = time.monotonic() - started
        return StudyOutcome(
            study_dir,
            uri,
            tracking.parent_run_id,
            cluster,
            slots,
            selections,
            rows,
            timings,
            progress.ran,
            tracking_lost=study_tracking.lost,
        )
    except _StopStudy as stop:
        raise stop.error from stop.__cause__
    finally:
        ray_tune.stop_ray()


def _report(study_dir: Path, study_tracking: StudyTracking, stream: TextIO) -> float:
    """The statistics and report of the finished study, into its folder and onto the MLflow parent run."""
    started = time.monotonic()
    try:
        outcome = write_report(study_dir)
        print_outcome(outcome, stream)
        study_tracking.log_report([outcome.report_path, outcome.stats_path], outcome.figures_dir)
    except Exception as error:  # noqa: BLE001 - every trial is safe in the table; the report can be made again
        print(
            f"warning: the report could not be written ({type(error).__name__}: {error}); every trial is kept, "
            f"make it with `sam-study report {study_dir}`",
            file=stream,
        )
    return time.monotonic() - started


def summary_table(spec: StudySpec, rows: list[dict[str, Any]], selections: dict[str, Selection]) -> str:
    """Per method: test accuracy over the evaluation seeds (mean ± std), the selected ρ, trial counts and
    the wall time of its trials. Diverged and failed runs are counted, never hidden."""
    lines = [
        "| method | test accuracy (mean ± std) | runs ok/diverged/failed | selected | tuning trials | trial time (s) |",
        "|---|---|---|---|---:|---:|",
    ]
    for method in spec.methods:
        runs = [r for r in rows if r["phase"] == "eval" and r["method"] == method.name]
        accs = [float(r["test_accuracy"]) for r in runs if r["status"] == "ok" and r["test_accuracy"] is not None]
        counts = "/".join(str(sum(1 for r in runs if r["status"] == s)) for s in ("ok", "diverged", "failed"))
        if len(accs) >= 2:
            acc = f"{statistics.mean(accs):.4f} ± {statistics.stdev(accs):.4f}"
        else:
            acc = f"{accs[0]:.4f}" if accs else "-"
        selection = selections[method.name]
        chosen = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(selection.params.items())) or selection.source
        rho = dict(method.hparams).get("rho")
        if "rho" not in selection.params and rho is not None:
            chosen += f" (rho={_fmt(rho)})"
        time_s = sum(r.get("wall_time_s") or 0.0 for r in rows if r["method"] == method.name)
        lines.append(
            f"| {method.name}{' (reference)' if method.name == spec.reference else ''} | {acc} | {counts} | "
            f"{chosen} | {selection.tuning_trials} | {time_s:.0f} |"
        )
    return "\n".join(lines)
