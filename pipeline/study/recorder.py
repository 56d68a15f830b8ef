"""The study's record of each finished trial: the trials-table row (at once), the child run closed, one line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from pipeline.decisions import MethodDecision
from pipeline.provenance import STUDY_STACK, code_digest, library_versions
from pipeline.results.row import TrialRow
from pipeline.results.study_results import metric_sign
from pipeline.results.table import TableWriteError, TrialsTable
from pipeline.results.trial_contract import StudyProvenance, TrialOutcome, trial_row
from pipeline.study._ray_compat import StopStudy
from pipeline.study.errors import StudyWriteError
from pipeline.study.mlflow.parent import StudyTracking
from pipeline.study.plan import TrialPlan
from pipeline.study.stream import StudyStream
from pipeline.study.time_left import TimeLeft, duration


class Recorder:
    """Called by Ray Tune's callback as each trial of one study ends: appends its row, closes its MLflow child run if
    the trial could not, prints one line, and tells the study's stream of trials. A table that cannot be written stops
    the study (``StudyWriteError``). ``time_left`` estimates over ``pending``: a suite's tasks share both, as their
    trials share the slots."""

    def __init__(
        self,
        table: TrialsTable,
        tracking: StudyTracking,
        console: TextIO,
        trials: StudyStream,
        time_left: TimeLeft,
        pending: Callable[[], list[str]],
        label: str = "",
    ) -> None:
        self.table, self.tracking, self.console, self.trials = table, tracking, console, trials
        self.label = label  # a suite's task: its name starts each line
        self.started = time.monotonic()
        self.ran = 0
        self.time_left, self._pending = time_left, pending
        for row in self.table.rows():  # a resumed study knows its methods' times from the start
            self.time_left.measured(self._key(row.method), row.wall_time_s, whole=not row.stopped_by_scheduler)
        self.provenance = StudyProvenance(code_digest(), library_versions(STUDY_STACK))

    def _key(self, method: str) -> str:
        """A method's key in the time estimate: a suite's tasks share one, and a method's time differs by task."""
        return f"{self.label}/{method}" if self.label else method

    def left(self) -> list[str]:
        """This study's trials still to run or running, as keys of the time estimate."""
        return [self._key(m) for m in self.trials.left()]

    def announce(self, most: int) -> None:
        """The study's trials to run, ``most`` at most if rounds of seeds are added."""
        pending = self.trials.left()
        more = f", at most {most} if every comparison takes every seed" if most > len(pending) else ""
        print(f"{self._prefix()}{len(pending)} trial(s) to run{more}", file=self.console, flush=True)

    def _prefix(self) -> str:
        return f"{self.label}: " if self.label else ""

    def __call__(self, outcome: TrialOutcome) -> None:
        if outcome.plan.key in self.table.keys():
            return  # a duplicate report of a recorded trial (Ray re-delivers after a driver restart)
        row = trial_row(outcome, self.provenance)
        try:
            self.table.append(row)
        except TableWriteError as error:
            raise StopStudy(StudyWriteError(str(error))) from error
        self.ran += 1
        self.time_left.measured(self._key(row.method), row.wall_time_s, whole=not row.stopped_by_scheduler)
        self.time_left.finished(self._key(row.method), row.wall_time_s, time.monotonic())
        self.time_left.set_pending(self._pending())
        if outcome.mlflow_run_id and (outcome.stopped_by_scheduler or outcome.status == "failed"):
            self.tracking.close_child(outcome.mlflow_run_id, "stopped" if outcome.stopped_by_scheduler else "failed")
        print(self._line(outcome.plan, row), file=self.console, flush=True)
        if row.traceback:  # the libraries' log (study.log, or the terminal with --verbose): the whole traceback
            print(f"trial {row.trial_key} failed:\n{row.traceback}", file=sys.stderr, flush=True)
        self.trials.recorded()

    def _line(self, plan: TrialPlan, row: TrialRow) -> str:
        elapsed = time.monotonic() - self.started
        where = (
            f"{plan.method} search {plan.search} trial {plan.trial_index}"
            if plan.phase == "tune"
            else f"{plan.method} seed {plan.seed}"
        )
        params = " ".join(f"{k}={fmt(v)}" for k, v in sorted(plan.params.items()))
        score = f"val {fmt(row.val_accuracy)}" + (f" test {fmt(row.test_accuracy)}" if plan.phase == "eval" else "")
        status = row.status + (" (stopped by ASHA)" if row.stopped_by_scheduler else "")
        if row.error:
            status += f": {row.error}"
        total = self.ran + len(self.trials.left())
        return (
            f"{self._prefix()}[{plan.phase} {self.ran}/{total}] {where} {params} {score} {status}"
            f" ({fmt(row.wall_time_s)} s; {elapsed:.0f} s elapsed{self._left()})"
        ).replace("  ", " ")

    def _left(self) -> str:
        estimate = self.time_left.estimate(time.monotonic())
        if estimate is None:
            return ""
        left, _ = estimate
        if not left:
            return ""
        rounds = self.trials.spec.evaluation.sequential
        return f", {duration(left)} left" + (" for the rounds under way" if rounds else "")


def decision_line(decision: MethodDecision, reference: str, metric: str) -> str:
    """``fsam against sam: better after 10 seeds (+0.0123, interval [0.0031, 0.0215])``: method − reference in the
    metric's units (the decisions orient a loss so that higher is better)."""
    look = decision.looks[-1] if decision.looks else None
    if look is None:
        return f"{decision.method} against {reference}: undecided, {decision.stopped}"
    sign = metric_sign(metric)
    low, high = sorted((sign * look.ci_low, sign * look.ci_high))
    after = f"after {look.n} seeds ({sign * look.estimate:+.4g}, interval [{low:.4g}, {high:.4g}])"
    why = f"; stopped: {decision.stopped}" if decision.stopped else ""
    return f"{decision.method} against {reference}: {decision.decision} {after}{why}"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
