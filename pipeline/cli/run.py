"""`sam-study run STUDY.yaml`: validate the study (or suite of studies), then run it (or resume it) end to end."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from pipeline.cli.exit_codes import ExitCode
from pipeline.cli.ray_lost import end_ray_lost
from pipeline.spec.study import StudySpecError, parse_study, read_yaml
from pipeline.spec.suite import SuiteSpec, is_suite, parse_suite
from pipeline.study.mlflow.secrets import redact

DEBUG_VARIABLE = "SAM_STUDY_DEBUG"  # set to 1: tracebacks with every error, as --debug


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", type=Path, help="the study or suite file (studies/*.yaml)")
    add_where_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument(
        "--code-changed",
        action="store_true",
        help="resume a study folder although the study's own code (its data or model factory) changed since it "
        "started; its results then mix both versions",
    )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """What reaches the terminal: shared by `sam-study run` and `sam-study nightly`."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Ray's, MLflow's and Optuna's own output on the terminal too (default: in OUT/<study>/study.log)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"print the traceback behind an error (also: {DEBUG_VARIABLE}=1)",
    )


def show_traceback(args: argparse.Namespace, error: BaseException) -> None:
    if args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
        traceback.print_exception(error, file=sys.stderr)


def resume_command(args: argparse.Namespace) -> str:
    """The command that resumes this study: the same study file, folder, tracking location and cluster."""
    words = ["sam-study", "run", str(args.study)]
    for flag, value in (("--out", args.out), ("--tracking-uri", args.tracking_uri), ("--address", args.address)):
        if value is not None:
            words += [flag, redact(value) if flag == "--tracking-uri" else value]
    return shlex.join(words)


def add_where_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a study runs and writes: shared by `sam-study run` and `sam-study nightly`."""
    parser.add_argument("--out", default=None, help="output folder (overrides output.dir of the study file)")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI, e.g. http://HOST:5000 (default: output.tracking_uri, else sqlite:///OUT/mlflow.db)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: an embedded local Ray)",
    )


def command(args: argparse.Namespace) -> int:
    try:
        raw = read_yaml(args.study)
        spec = parse_suite(raw, str(args.study)) if is_suite(raw) else parse_study(raw, str(args.study))
    except StudySpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    # Imported only now: Ray, MLflow and Optuna take seconds to import, and a bad file should fail fast.
    from pipeline.report.run_reports import study_report, suite_report
    from pipeline.study.driver import RayLost, Reports, StudyInterrupted, StudyWriteError, run_study, run_suite
    from pipeline.study.mlflow.errors import TrackingError
    from pipeline.study.ray_cluster import ClusterError

    try:
        outcome = (run_suite if isinstance(spec, SuiteSpec) else run_study)(
            spec,
            args.study,
            Reports(study_report, suite_report),
            out_dir=args.out,
            tracking_uri=args.tracking_uri,
            address=args.address,
            library_log=not args.verbose,
            on_ray_lost=lambda error: _end_ray_lost(args, error),
            code_changed=args.code_changed,
        )
    except (StudySpecError, TrackingError, ClusterError, StudyWriteError) as error:
        show_traceback(args, error)
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except RayLost as error:
        show_traceback(args, error)
        _end_ray_lost(args, error)
    except StudyInterrupted as error:
        print(f"interrupted: {error}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        print(
            "interrupted: every finished trial is kept; run the same command again to resume",
            file=sys.stderr,
        )
        return ExitCode.INTERRUPTED
    if outcome.tracking_lost is not None:
        # Distinct from 0: the results are complete, but whoever reads MLflow would see an incomplete study.
        suite = isinstance(spec, SuiteSpec)
        folders = [s.study_dir for s in outcome.studies] if suite else [outcome.study_dir]
        where = "its tasks' trials.parquet" if suite else str(outcome.study_dir / "trials.parquet")
        sync = " and ".join(f"`sam-study sync-mlflow {folder}`" for folder in folders)
        print(
            f"warning: the {'suite' if suite else 'study'} is complete and every trial is in {where}, but MLflow "
            f"at {outcome.tracking_uri} missed part of it ({outcome.tracking_lost}); once the server is back, run "
            f"{sync}",
            file=sys.stderr,
        )
        return ExitCode.TRACKING_INCOMPLETE
    return ExitCode.OK


def _end_ray_lost(args: argparse.Namespace, error: Exception) -> NoReturn:
    """From the main thread or the driver's watch thread alike: report, then end the process (see ``ray_lost``)."""
    end_ray_lost(f"error: {error}\nresume with: {resume_command(args)}")
