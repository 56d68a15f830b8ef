"""`sam-study`: the command line (also `python -m pipeline`).

Subcommands import their heavy modules lazily, so a subcommand's dependencies load only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

BENCHMARKS = {
    "optimizers": "pipeline.bench.optimizers",
    "trials": "pipeline.bench.trials",
    "study": "pipeline.bench.study",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam-study",
        description="Hyperparameter studies of sharpness-aware optimizers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser(
        "bench",
        help="measured benchmarks: optimizer overhead, trial speed and baselines",
        description="Measured benchmarks. `sam-study bench optimizers --help` lists a benchmark's options.",
    )
    bench.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark to run")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options of that benchmark")

    train = commands.add_parser(
        "train",
        help="run one trial",
        description="Train one model with one optimizer and print (or --json write) its TrialResult.",
    )
    from pipeline.cli.train_args import add_trial_arguments

    add_trial_arguments(train)
    train.add_argument("--json", metavar="PATH", default=None, help="write the TrialResult as JSON to PATH")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress")

    run = commands.add_parser(
        "run",
        help="run (or resume) a study: tuning, then evaluation over seeds, into Parquet and MLflow",
        description="Run a whole study on Ray Tune. Re-running on the same output folder resumes it. Exit 0: done; "
        "2: a bad study file, tracking location or cluster (nothing ran); 3: done, but the MLflow server was lost on "
        "the way (every trial is in trials.parquet: run `sam-study sync-mlflow`); 130: interrupted (run it again).",
    )
    from pipeline.cli.run import add_run_arguments

    add_run_arguments(run)

    report = commands.add_parser(
        "report",
        help="the statistics, report.md, stats.json and figures of a study folder",
        description="Compare every method of a study with its reference: paired tests, corrections, effect sizes, "
        "intervals, compute cost and figures. Exit 0: complete; 1: written but incomplete; 2: nothing to report.",
    )
    from pipeline.cli.report import add_report_arguments

    add_report_arguments(report)
    nightly = commands.add_parser(
        "nightly",
        help="a fixed regression study compared with its last accepted baseline (exit 1 on a regression)",
        description="Run a small fixed study and decide, per method, whether it regressed against the last "
        "accepted baseline: a one-sided paired t-test for 'worse by more than the study's margin', Holm-corrected, "
        "plus an exact-reproduction check on CPU. Exit 0: no regression; 1: a regression; 2: a broken run.",
    )
    from pipeline.cli.nightly import add_nightly_arguments

    add_nightly_arguments(nightly)
    sync = commands.add_parser(
        "sync-mlflow",
        help="back-fill MLflow from a study folder's trials table, after the server was down",
        description="Make the study's MLflow runs match its trials table: one complete child run per trial (created "
        "or completed from the table, duplicates removed), and the parent run's files. Running it again changes "
        "nothing. Exit 0: done; 2: not a study folder, or MLflow cannot be reached.",
    )
    from pipeline.cli.sync import add_sync_arguments

    add_sync_arguments(sync)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        import importlib

        module = importlib.import_module(BENCHMARKS[args.benchmark])
        return int(module.main(args.args) or 0)
    if args.command == "train":
        from pipeline.cli.train import train_command

        return train_command(args)
    if args.command == "run":
        from pipeline.cli.run import run_command

        return run_command(args)
    if args.command == "report":
        from pipeline.cli.report import report_command

        return report_command(args)
    if args.command == "nightly":
        from pipeline.cli.nightly import nightly_command

        return nightly_command(args)
    if args.command == "sync-mlflow":
        from pipeline.cli.sync import sync_command

        return sync_command(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
