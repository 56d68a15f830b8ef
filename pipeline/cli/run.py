"""`sam-study run STUDY.yaml`: validate the study, then run it (or resume it) end to end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli.exit_codes import ExitCode
from pipeline.spec.study import StudySpecError, load_study


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", type=Path, help="the study file (studies/*.yaml)")
    add_where_arguments(parser)


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
        spec = load_study(args.study)
    except StudySpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    # Imported only now: Ray, MLflow and Optuna take seconds to import, and a bad file should fail fast.
    from pipeline.study.driver import StudyInterrupted, StudyWriteError, run_study
    from pipeline.study.mlflow.errors import TrackingError
    from pipeline.study.ray_cluster import ClusterError

    try:
        outcome = run_study(
            spec,
            args.study,
            out_dir=args.out,
            tracking_uri=args.tracking_uri,
            address=args.address,
        )
    except (StudySpecError, TrackingError, ClusterError, StudyWriteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
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
        print(
            f"warning: the study is complete and every trial is in {outcome.study_dir / 'trials.parquet'}, but MLflow "
            f"at {outcome.tracking_uri} missed part of it ({outcome.tracking_lost}); once the server is back, run "
            f"`sam-study sync-mlflow {outcome.study_dir}`",
            file=sys.stderr,
        )
        return ExitCode.TRACKING_INCOMPLETE
    return ExitCode.OK
