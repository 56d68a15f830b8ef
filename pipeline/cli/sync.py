"""`sam-study sync-mlflow STUDY_DIR`: back-fill MLflow from a study folder (``study.backfill``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli.exit_codes import ExitCode
from pipeline.results.folder import StudyFolder, recorded_tracking
from pipeline.results.study_results import StudyFolderError, load_study_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study_dir", type=Path, help="the study folder, OUT/<study>, as written by `sam-study run`")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="the MLflow tracking URI to fill (default: the one recorded in STUDY_DIR/mlflow.json)",
    )


def command(args: argparse.Namespace) -> int:
    try:
        results = load_study_results(args.study_dir)
        uri = args.tracking_uri or _recorded_uri(results.study_dir)
    except StudyFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    # Imported only now: MLflow takes seconds to import, and a bad folder should fail fast.
    from pipeline.study.backfill import sync
    from pipeline.study.mlflow.errors import TrackingError
    from pipeline.study.mlflow.secrets import redact
    from pipeline.study.mlflow.uri import resolve_tracking

    try:
        uri = resolve_tracking(uri)  # a password in it moves into the environment, out of every message
        print(sync(results, uri))
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except Exception as error:  # noqa: BLE001 - MLflow raises its own and transport errors alike
        print(
            f"error: MLflow at {uri} failed during the sync ({type(error).__name__}: "
            f"{redact(str(error))[:500]}); what was synced stays, run the same command again to finish",
            file=sys.stderr,
        )
        return ExitCode.BAD_INPUT
    return ExitCode.OK


def _recorded_uri(study_dir: Path) -> str:
    recorded = recorded_tracking(study_dir)
    if recorded is None:
        raise StudyFolderError(
            f"{StudyFolder(study_dir).tracking}: missing or unreadable, so the study's MLflow location is unknown; "
            "pass --tracking-uri"
        )
    return recorded.tracking_uri
