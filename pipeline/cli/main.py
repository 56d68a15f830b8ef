"""`sam-study`: the command line (also `python -m pipeline`).

Every command is a row of ``COMMANDS``: the module that holds it, and what `--help` says. Subcommands import
their heavy modules lazily, so a subcommand's dependencies load only when it runs.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from pipeline.cli.parser import Parser

BENCHMARKS = {
    "optimizers": "pipeline.bench.optimizers",
    "trials": "pipeline.bench.trials",
    "study": "pipeline.bench.study",
    "sequential": "pipeline.bench.sequential",
    "recording": "pipeline.bench.recording",
}


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # holds add_arguments(parser) and command(args) -> exit code
    help: str
    description: str


COMMANDS = (
    Command(
        "train",
        "pipeline.cli.train",
        "run one trial",
        "Train one model with one optimizer and print (or --json write) its TrialResult.",
    ),
    Command(
        "run",
        "pipeline.cli.run",
        "run (or resume) a study: tuning, then evaluation over seeds, into Parquet and MLflow",
        "Run a whole study on Ray Tune. Re-running on the same output folder resumes it. Exit 0: done; "
        "2: a bad study file, tracking location or cluster (nothing ran); 3: done, but the MLflow server was lost on "
        "the way (every trial is in trials.parquet: run `sam-study sync-mlflow`); 4: the Ray instance or cluster was "
        "lost (run it again to resume); 130: interrupted (run it again).",
    ),
    Command(
        "report",
        "pipeline.cli.report",
        "the statistics, report.md, stats.json and figures of a study folder",
        "Compare every method of a study with its reference: paired tests, corrections, effect sizes, "
        "intervals, compute cost and figures. Exit 0: complete; 1: written but incomplete; 2: nothing to report.",
    ),
    Command(
        "nightly",
        "pipeline.cli.nightly",
        "a fixed regression study compared with its last accepted baseline (exit 5 on a regression)",
        "Run a small fixed study and decide, per method, whether it regressed against the last "
        "accepted baseline: a one-sided paired t-test for 'worse by more than the study's margin', Holm-corrected, "
        "plus an exact-reproduction check on CPU. Exit 0: no regression; 2: a broken run; 4: the Ray instance or "
        "cluster was lost (run it again); 5: a regression; 130: interrupted.",
    ),
    Command(
        "check-optimizer",
        "pipeline.cli.check_optimizer",
        "hold a SAM-family rule of your own (MODULE:CLASS) to the family's contract",
        "Run the checks every shipped rule passes on a rule of your own, on small models on the CPU: clean "
        "parameters after every step, the declared passes, BatchNorm once per step, state_dict and deepcopy, no "
        "perturbation kept, foreach against per-tensor, determinism, and a falling loss. One line per check. Exit "
        "0: every check holds; 2: the rule cannot be imported or registered; 6: a check fails.",
    ),
    Command(
        "sync-mlflow",
        "pipeline.cli.sync",
        "back-fill MLflow from a study folder's trials table, after the server was down",
        "Make the study's MLflow runs match its trials table: one complete child run per trial (created "
        "or completed from the table, duplicates removed), and the parent run's files. Running it again changes "
        "nothing. Exit 0: done; 2: not a study folder, or MLflow cannot be reached.",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sam-study", description="Hyperparameter studies of sharpness-aware optimizers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser(
        "bench",
        help="measured benchmarks: optimizer overhead, trial speed and baselines",
        description="Measured benchmarks. `sam-study bench optimizers --help` lists a benchmark's options.",
    )
    bench.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark to run")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options of that benchmark")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.description)
        importlib.import_module(command.module).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        module = importlib.import_module(BENCHMARKS[args.benchmark])
        return int(module.main(args.args) or 0)
    [command] = [c for c in COMMANDS if c.name == args.command]  # argparse rejects unknown commands
    return int(importlib.import_module(command.module).command(args))


def run_command() -> NoReturn:
    """The console script: ``main``, then the process ends without tearing down its interpreter.

    A study imports torch, Ray, MLflow and pandas; the interpreter's teardown of those modules, once every file is
    written and closed, took 2 to 3 seconds of every command on a 2-core machine. The exit does what Python's own
    does first (waits for the threads that are not daemons, runs the exit handlers, among them Ray's and MLflow's
    and logging's, flushes the standard streams) and leaves out only the teardown. An uncaught error exits as usual.
    """
    code = main()
    main_thread = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main_thread and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter's own exit would run next
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run_command()
