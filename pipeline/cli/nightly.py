"""`sam-study nightly STUDY.yaml`: run a small fixed study and compare it with the last accepted baseline.

Exit 0: nothing regressed; 2: a broken run (bad input, no baseline to compare with, a study that did not finish);
4: the Ray instance or cluster was lost (run it again); 5: a method regressed (or a run that should have reproduced
its baseline exactly did not); 130: interrupted (``pipeline.cli.exit_codes``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pipeline.cli.exit_codes import NIGHTLY_EXIT, ExitCode
from pipeline.cli.ray_lost import end_ray_lost
from pipeline.cli.run import add_output_arguments, add_where_arguments, show_traceback
from pipeline.spec.study import StudySpec, StudySpecError, load_study

if TYPE_CHECKING:
    from pipeline.report.nightly import Baseline
    from pipeline.results.row import TrialRow
    from pipeline.study.driver import StudyOutcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", type=Path, help="the nightly study file (studies/nightly.yaml)")
    add_where_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a trials.parquet to compare with (default: the last accepted nightly run of this study in MLflow)",
    )
    parser.add_argument(
        "--accept",
        action="store_true",
        help="mark this run as the study's new baseline (tag nightly_accepted=true on its MLflow parent run)",
    )


class _Broken(Exception):
    """A night that cannot be decided: the message says why; exit 2."""


def command(args: argparse.Namespace) -> int:
    try:
        spec = load_study(args.study)
        from pipeline.study.nightly import check_nightly_spec

        check_nightly_spec(spec, str(args.study))
    except StudySpecError as error:
        return _broken(str(error))
    out = Path(args.out if args.out is not None else spec.output.dir).expanduser().resolve()
    with tempfile.TemporaryDirectory(prefix="sam-study-baseline-") as scratch:
        try:
            uri, baseline_rows, baseline = _find_baseline(args, spec, out, Path(scratch))
            outcome = _run_night(args, spec, out, uri, baseline_rows, Path(scratch))
            return _decide(args, spec, uri, outcome, baseline_rows, baseline)
        except _Broken as broken:
            return _broken(str(broken))
        except KeyboardInterrupt:
            print("interrupted: the nightly study did not finish; nothing was decided", file=sys.stderr)
            return ExitCode.INTERRUPTED


def _find_baseline(
    args: argparse.Namespace, spec: StudySpec, out: Path, scratch: Path
) -> tuple[str, list[TrialRow] | None, Baseline | None]:
    """The tracking URI and the baseline, found before anything runs: a night without one is refused at once."""
    # Imported only now: Ray and MLflow take seconds to import, and a bad file should fail fast.
    from pipeline.results.errors import StudyFolderError
    from pipeline.study.mlflow.errors import TrackingError
    from pipeline.study.mlflow.uri import default_tracking_uri, resolve_tracking

    uri = args.tracking_uri or spec.output.tracking_uri or default_tracking_uri(out)
    try:
        uri = resolve_tracking(uri, args.address)  # a password in it moves into the environment
        baseline_rows, baseline = _baseline(args, spec, uri, scratch)
    except (TrackingError, StudyFolderError) as error:
        raise _Broken(str(error)) from None
    if baseline is None and not args.accept:
        raise _Broken(
            f"no accepted nightly baseline of study {spec.name!r} at {uri}; run once with --accept to make this "
            "run the baseline, or pass --baseline TRIALS.parquet"
        )
    return uri, baseline_rows, baseline


def _run_night(
    args: argparse.Namespace,
    spec: StudySpec,
    out: Path,
    uri: str,
    baseline_rows: list[TrialRow] | None,
    scratch: Path,
) -> StudyOutcome:
    """The night's study, in a folder of its own: OUT/<study>/<UTC time>. With sequential seeds, each method's
    rounds go on while its comparison with the baseline is undecided."""
    from pipeline.report.run_reports import study_report
    from pipeline.study.driver import RayLost, Reports, StudyInterrupted, StudyWriteError, run_study
    from pipeline.study.mlflow.errors import TrackingError
    from pipeline.study.nightly import baseline_rounds
    from pipeline.study.ray_cluster import ClusterError

    rounds = (baseline_rounds(spec, baseline_rows), "its baseline") if spec.evaluation.sequential else None
    folder = f"{spec.name}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    try:
        return run_study(
            spec,
            args.study,
            Reports(study_report),
            out_dir=out,
            tracking_uri=uri,
            address=args.address,
            folder=folder,
            library_log=not args.verbose,
            on_ray_lost=lambda error: _end_ray_lost(error, scratch),
            rounds=rounds,
        )
    except RayLost as error:
        show_traceback(args, error)
        _end_ray_lost(error, scratch)
    except (StudySpecError, TrackingError, ClusterError, StudyInterrupted, StudyWriteError) as error:
        show_traceback(args, error)
        raise _Broken(f"the nightly study did not finish: {error}") from None


def _end_ray_lost(error: Exception, scratch: Path) -> NoReturn:
    """The night cannot be decided: say so and end the process with RAY_LOST (see ``pipeline.cli.ray_lost``). A
    night is not resumed: the same command runs a whole new one, in a folder of its own."""
    shutil.rmtree(scratch, ignore_errors=True)  # the process ends without the temporary folder's own clean-up
    end_ray_lost(
        f"error: the nightly study did not finish, so nothing was decided: {error}\n"
        "run the same command again for a new night"
    )


def _decide(
    args: argparse.Namespace,
    spec: StudySpec,
    uri: str,
    outcome: StudyOutcome,
    baseline_rows: list[TrialRow] | None,
    baseline: Baseline | None,
) -> int:
    """The verdict, written into the night's folder and onto its MLflow parent run, then printed."""
    from pipeline.decisions.nightly import decide_night
    from pipeline.report.nightly import Night, write_night
    from pipeline.study.mlflow import baseline as baselines
    from pipeline.study.mlflow.uri import ui_hint

    decision = decide_night(spec, outcome.rows, baseline_rows)
    accepted = args.accept and decision.verdict != "broken"
    exit_code = int(NIGHTLY_EXIT[decision.verdict])
    night = Night(spec.name, outcome.study_dir, outcome.parent_run_id, baseline, accepted, exit_code)
    files = write_night(decision, night)
    tags = {baselines.VERDICT_TAG: decision.verdict}
    if accepted:
        tags[baselines.ACCEPTED_TAG] = "true"
    if baseline is not None and baseline.mlflow_run_id:
        tags["nightly_baseline_run_id"] = baseline.mlflow_run_id
    try:
        baselines.record_nightly(uri, outcome.parent_run_id, files, tags)
    except Exception as error:  # noqa: BLE001 - the decision is in the folder; MLflow is where it is shown
        raise _Broken(f"the decision could not be logged to MLflow at {uri}: {error}") from None
    print(files[1].read_text())
    print(f"regression report: {files[1]}")
    print(ui_hint(uri, outcome.experiment_id, outcome.parent_run_id))
    if args.accept and not accepted:
        print("not accepted as the baseline: a broken run cannot be one", file=sys.stderr)
    return exit_code


def _baseline(
    args: argparse.Namespace, spec: StudySpec, uri: str, scratch: Path
) -> tuple[list[TrialRow] | None, Baseline | None]:
    """The baseline's rows and where they came from (both None when there is none)."""
    from pipeline.report.nightly import Baseline
    from pipeline.results.table import read_rows
    from pipeline.study.mlflow.baseline import find_accepted_baseline

    if args.baseline is not None:
        path = args.baseline.expanduser().resolve()
        rows = read_rows(path, study=spec.name)
        return rows, Baseline.from_file(path)
    found = find_accepted_baseline(uri, spec.name, scratch)
    if found is None:
        return None, None
    return read_rows(found.table, study=spec.name), Baseline.from_mlflow(found.run_id, found.study_dir)


def _broken(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return ExitCode.BAD_INPUT
