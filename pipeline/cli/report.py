"""`sam-study report OUT/<study>`: the statistics, report.md, stats.json and figures of a study folder; for a
suite folder `OUT/<suite>`, every task's report and the suite report across tasks.

Exit codes: 0 the report answers the study's question; 1 the report was written but is incomplete (the
messages say why: a missing method, a single seed, only diverged runs) or could not be attached to MLflow;
2 the folder cannot be reported on at all (nothing is written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO, get_args

from pipeline.cli.exit_codes import ExitCode
from pipeline.spec.study import Alternative, Correction, DivergedPolicy, Metric, Test


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "study_dir",
        type=Path,
        help="the study's folder OUT/<study> (or a suite's, OUT/<suite>), as `sam-study run` wrote it",
    )
    parser.add_argument("--metric", choices=get_args(Metric), default=None, help="compare on this metric")
    parser.add_argument("--alpha", type=float, default=None, help="significance level (default: the study's, 0.05)")
    parser.add_argument("--test", choices=get_args(Test), default=None, help="the paired test that decides")
    parser.add_argument(
        "--correction", choices=get_args(Correction), default=None, help="multiple-comparison correction"
    )
    parser.add_argument(
        "--alternative",
        choices=get_args(Alternative),
        default=None,
        help="two-sided, or one-sided: does the method beat the reference",
    )
    parser.add_argument(
        "--diverged",
        choices=get_args(DivergedPolicy),
        default=None,
        help="score diverged runs as failures (0 accuracy) or leave their seeds out",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="attach the report to the study's MLflow parent run at this URI (default: the one the run used)",
    )
    parser.add_argument("--no-mlflow", action="store_true", help="write the files only; do not attach them to MLflow")


def command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    stream = stream or sys.stdout
    from pipeline.report.write import print_outcome, write_report
    from pipeline.results.folder import recorded_tracking
    from pipeline.results.study_results import StudyFolderError

    overrides = {k: getattr(args, k) for k in ("metric", "alpha", "test", "correction", "alternative", "diverged")}
    from pipeline.report.suite import is_suite_folder

    if is_suite_folder(args.study_dir):
        return _suite_command(args, overrides, stream)
    try:
        outcome = write_report(args.study_dir, overrides)
    except StudyFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print_outcome(outcome, stream)
    code = ExitCode.INCOMPLETE if outcome.problems else ExitCode.OK
    if args.no_mlflow:
        return code
    recorded = recorded_tracking(outcome.study_dir)
    if recorded is None:
        print(
            f"note: {outcome.study_dir} records no MLflow run (it predates `sam-study run`'s mlflow.json); "
            "the report is in the folder only",
            file=stream,
        )
        return code
    attached = _attach(args, recorded, outcome, stream)
    return code if attached else ExitCode.INCOMPLETE


def _attach(args: argparse.Namespace, recorded, outcome, stream: TextIO) -> bool:
    """Attach the written report to the study's MLflow parent run; False (with the reason on stderr) if it cannot."""
    return _attach_files(args, recorded, _study_files(outcome), outcome.figures_dir, outcome.decision_tags, stream)


def _attach_files(args: argparse.Namespace, recorded, files, figures_dir, tags, stream: TextIO) -> bool:
    """Attach report files to a recorded MLflow run; False (with the reason on stderr) if they cannot be."""
    from pipeline.study.mlflow.errors import TrackingError
    from pipeline.study.mlflow.uri import resolve_tracking, ui_hint

    # The study's URI was recorded without its password; the names of the variables that held it were.
    unset = [n for n in recorded.credentials_from if not os.environ.get(n)]
    if args.tracking_uri is None and unset:
        print(
            f"error: the report is written but not attached to MLflow: the study logged to {recorded.tracking_uri} "
            f"with credentials from {', '.join(unset)}, which are not set now (they are never recorded); set them, "
            "or pass --tracking-uri with the credentials (http://USER:PASSWORD@HOST:PORT)",
            file=sys.stderr,
        )
        return False
    try:
        uri = resolve_tracking(args.tracking_uri or recorded.tracking_uri)
        from pipeline.study.mlflow.parent import attach_report

        attach_report(uri, recorded.parent_run_id, files, figures_dir, tags)
    except TrackingError as error:
        print(f"error: the report is written but not attached to MLflow: {error}", file=sys.stderr)
        return False
    print(f"attached to MLflow run {recorded.parent_run_id} at {uri} (artifacts: report/)", file=stream)
    print(ui_hint(uri, recorded.experiment_id, recorded.parent_run_id), file=stream)
    return True


def _suite_command(args: argparse.Namespace, overrides: dict, stream: TextIO) -> int:
    """A suite folder: every task's report, the suite report, and the suite report onto the suite's MLflow run."""
    from pipeline.report.suite import write_suite_report
    from pipeline.results.folder import recorded_tracking
    from pipeline.results.study_results import StudyFolderError

    changed = [f"--{k}" for k, v in overrides.items() if v is not None]
    if changed:
        print(
            f"error: {', '.join(changed)} apply to a study folder; a suite's statistics are the ones in its suite file "
            f"(report a single task with `sam-study report {args.study_dir}/TASK {' '.join(changed)} ...`)",
            file=sys.stderr,
        )
        return ExitCode.BAD_INPUT
    try:
        outcome = write_suite_report(args.study_dir)
    except StudyFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(outcome.verdict, file=stream)
    print(f"suite report: {outcome.files[0]}\nfigures: {outcome.figures_dir}", file=stream, flush=True)
    for problem in outcome.problems:
        print(f"incomplete: {problem}", file=sys.stderr)
    code = ExitCode.INCOMPLETE if outcome.problems else ExitCode.OK
    if args.no_mlflow:
        return code
    attached = True
    for folder, files, figures, tags in [
        *((o.study_dir, _study_files(o), o.figures_dir, o.decision_tags) for o in outcome.tasks.values()),
        (outcome.suite_dir, outcome.files, outcome.figures_dir, {}),
    ]:
        recorded = recorded_tracking(folder)
        if recorded is not None:
            attached &= _attach_files(args, recorded, files, figures, tags, stream)
    return code if attached else ExitCode.INCOMPLETE


def _study_files(outcome) -> list[Path]:
    return [outcome.report_path, outcome.stats_path] + ([outcome.decisions_path] if outcome.decisions_path else [])
