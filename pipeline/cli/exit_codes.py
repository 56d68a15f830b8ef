"""Every exit status of every `sam-study` command, in one table (the README's table is this one)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done: the study ran, the report answers its question, the nightly found no regression
    INCOMPLETE = 1  # `report`: written but incomplete, or not attached to MLflow
    BAD_INPUT = 2  # a bad file, flag, folder, tracking location or cluster; or a write that failed: nothing is lost
    TRACKING_INCOMPLETE = 3  # `run`: the study is complete, but MLflow missed part of it (run `sam-study sync-mlflow`)
    RAY_LOST = 4  # `run`, `nightly`: the Ray instance or cluster went away; finished trials are kept, run it again
    REGRESSION = 5  # `nightly`: a method regressed against its baseline, or a run did not reproduce it exactly
    CONTRACT_BROKEN = 6  # `check-optimizer`: the rule breaks a clause of the SAM family's contract
    INTERRUPTED = 130  # Ctrl-C: every finished trial is kept, run the same command to resume


# The nightly's verdicts (``pipeline.decisions.nightly``): no baseline yet is a night run, not a failure.
NIGHTLY_EXIT = {
    "pass": ExitCode.OK,
    "no-baseline": ExitCode.OK,
    "regression": ExitCode.REGRESSION,
    "broken": ExitCode.BAD_INPUT,
}
