"""`sam-study train`: one trial from the command line, with per-epoch progress and a final summary."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from pipeline.cli.exit_codes import ExitCode
from pipeline.cli.train_args import add_trial_arguments, trial_config_from_args
from pipeline.cli.train_errors import name_flags, validation_messages
from pipeline.train.result import EpochRecord, TrialResult
from pipeline.train.runner import TrialCallbacks, run_trial

BAR_WIDTH = 24


class _Progress(TrialCallbacks):
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch(self, record: EpochRecord) -> None:
        done = record.epoch + 1
        filled = round(BAR_WIDTH * done / self.epochs)
        rho = f"  rho {record.rho:.4f}" if record.rho is not None else ""
        print(
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] epoch {done}/{self.epochs}"
            f"  train loss {record.train_loss:.4f}"
            f"  val loss {record.val_loss:.4f}  val acc {record.val_accuracy:.4f}  lr {record.lr:.4g}{rho}"
            f"  {record.seconds:.1f}s",
            file=sys.stderr,
            flush=True,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_trial_arguments(parser)
    parser.add_argument("--json", metavar="PATH", default=None, help="write the TrialResult as JSON to PATH")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def command(args: argparse.Namespace) -> int:
    try:
        cfg = trial_config_from_args(args)
    except ValidationError as error:
        return _bad_input(validation_messages(error))
    try:
        result = run_trial(cfg, None if args.quiet else _Progress(cfg.epochs))
    except ValueError as error:  # bad input found while building data, model or optimizer
        return _bad_input([name_flags(str(error))])
    print(summary(result))
    if args.json:
        result.write_json(args.json)
    return ExitCode.OK


def _bad_input(messages: list[str]) -> int:
    for message in messages:
        print(f"sam-study train: error: {message}", file=sys.stderr)
    return ExitCode.BAD_INPUT


def summary(result: TrialResult) -> str:
    lines = [
        f"status {result.status}: {result.optimizer}, seed {result.seed}, {result.epochs_run} epochs "
        f"(best validation at epoch {result.best_epoch + 1})",
        f"  test accuracy {result.test_accuracy:.4f}  test loss {result.test_loss:.4f}  "
        f"(last epoch: test accuracy {result.final_test_accuracy:.4f})",
        f"  val accuracy {result.val_accuracy:.4f}  val loss {result.val_loss:.4f}  train loss {result.train_loss:.4f}",
    ]
    if result.shifted_test_accuracy is not None:
        lines.append(f"  shifted test accuracy {result.shifted_test_accuracy:.4f}")
    if result.rho_trajectory:
        lines.append(f"  rho {result.rho_trajectory[0]:.4f} -> {result.rho_trajectory[-1]:.4f}")
    lines.append(
        f"  {result.wall_time_s:.1f}s wall, {result.train_time_s / max(result.epochs_run, 1):.2f}s per epoch, "
        f"{result.samples_per_second:.0f} samples/s, {result.passes_per_step:g} passes per step, on {result.device}"
    )
    return "\n".join(lines)
