"""What a study runs next: one stream of trials for one Tune run, with no barrier between tuning and evaluation.

``StudyStream.next_plan()`` is asked for a trial whenever a slot is free, and answers, in this order:
- a tuning trial of a search whose batch is ready: each batch waits for the one before, so the searches are the
  study's longest chains and go first;
- an evaluation trial of a method whose configuration is known (every tuning trial of it recorded; a method
  without a search at once), for a seed it needs: every seed of a list; with sequential seeds, the seeds of its
  next look as ``pipeline.decisions`` reads them from the recorded rows (the reference: as many as the most any
  open comparison needs); a list seed by seed, rounds earliest first, the reference first in a round, then the
  slowest method (so that the trials left at the very end are short);
- ``WAIT`` while running trials may open more work, ``DONE`` once nothing runs and nothing is left.

What it decides is read from the trials table alone, so a resumed study emits what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.decisions import MethodDecision, StudyDecisions, decide
from pipeline.results.row import TrialRow
from pipeline.results.selection import Selection, select
from pipeline.results.study_results import rows_of
from pipeline.results.table import TrialsTable
from pipeline.spec.study import MethodSpec, StudySpec
from pipeline.study.batch_search import Batches, suggest
from pipeline.study.plan import TrialPlan, eval_key, evaluation_needed, search_id

WAIT = "wait"
DONE = "done"


@dataclass
class Search:
    """One Optuna search: its distributions, seed, batches, finished history, and how to plan a trial."""

    search_id: str
    method: str
    space: dict[str, Any]  # optuna distributions
    seed: int
    batches: Batches
    budget: int
    history: dict[int, tuple[dict[str, Any], float | None]]  # trial index -> (params, objective or None: failed)
    make_plan: Callable[[dict[str, Any], int], TrialPlan]

    @property
    def remaining(self) -> int:
        return max(0, self.budget - len(self.history))

    def ready(self, index: int) -> bool:
        """Every trial before ``index``'s batch has finished, so its values can be suggested."""
        return all(i in self.history for i in range(self.batches.first_of_batch(index)))

    def suggest(self, index: int) -> dict[str, Any]:
        seen = [self.history[i] for i in range(self.batches.first_of_batch(index))]
        return suggest(self.space, self.seed, index, seen, self.batches.startup)


class TrialSource(Protocol):
    """What one Tune run asks for trials: a study's ``StudyStream``, or a suite's streams together."""

    def next_plan(self) -> TrialPlan | str: ...

    def tuning_finished(self, plan: TrialPlan, value: float | None) -> None: ...


# The decisions that say which seeds each method needs, from the recorded rows (None: every seed runs).
Rounds = Callable[[list[TrialRow]], StudyDecisions | None]


def _against_reference(spec: StudySpec) -> Rounds:
    """A study's own rounds: each method against the reference (``pipeline.decisions``); a list: every seed."""
    if not spec.evaluation.sequential:
        return lambda rows: None
    return lambda rows: decide(spec, rows)


# (method, seed, its selected searched values, round or None) -> the evaluation trial's plan
EvalPlanner = Callable[[MethodSpec, int, dict[str, Any], "int | None"], TrialPlan]


class StudyStream:
    def __init__(
        self,
        spec: StudySpec,
        table: TrialsTable,
        searches: list[Search],
        plan_eval: EvalPlanner,
        on_selected: Callable[[dict[str, Selection]], None] = lambda selections: None,
        on_decided: Callable[[MethodDecision], None] = lambda decision: None,
        rounds: Rounds | None = None,
    ) -> None:
        self.spec, self.table, self.searches = spec, table, searches
        self._plan_eval, self._on_selected, self._on_decided = plan_eval, on_selected, on_decided
        self._rounds = rounds if rounds is not None else _against_reference(spec)
        self._open = {s.search_id: [i for i in range(s.budget) if i not in s.history] for s in searches}
        self._emitted: set[str] = set(table.keys())
        self._selections: dict[str, Selection] = {}
        self._announced: set[str] = set()
        self._decisions: tuple[int, StudyDecisions | None] | None = None  # cached for a number of rows
        self._times: tuple[int, dict[str, float], float] | None = None  # mean trial seconds, likewise
        decisions = self.decisions()
        if decisions is not None:
            self._announced = {m.method for m in decisions.methods if m.closed}

    # ------------------------------------------------------------------------------------------- asked by Tune

    def next_plan(self) -> TrialPlan | str:
        """The next trial to run, ``WAIT`` (ask again when a trial ends) or ``DONE``."""
        plan = self.next_tuning() or self.next_evaluation()
        return plan if plan is not None else self.idle()

    def next_tuning(self) -> TrialPlan | None:
        """A tuning trial of a search whose batch is ready, if any."""
        return self._emit(self._next_tuning())

    def next_evaluation(self) -> TrialPlan | None:
        """The evaluation trial that goes first of those ready, if any."""
        ready = self.evaluation_ready()
        return self._emit(self._plan_of(ready[1], ready[2])) if ready is not None else None

    def idle(self) -> str:
        """With no trial to hand out: ``WAIT`` while running trials may open more work, else ``DONE``."""
        return WAIT if any(self._open.values()) or self._emitted - self.table.keys() else DONE

    def tuning_finished(self, plan: TrialPlan, value: float | None) -> None:
        """A tuning trial ended with objective ``value`` (None: it failed)."""
        if plan.search is None or plan.trial_index is None:
            return
        for s in self.searches:
            if s.search_id == search_id(plan.method, plan.search):
                s.history[plan.trial_index] = (plan.params, value)

    # ------------------------------------------------------------------------------------------- what is known

    @property
    def selections(self) -> dict[str, Selection]:
        return dict(self._selections)

    def decisions(self) -> StudyDecisions | None:
        """The sequential decisions from the rows recorded so far (None: every seed runs)."""
        rows = self.table.rows()
        if self._decisions is None or self._decisions[0] != len(rows):
            self._decisions = (len(rows), self._rounds(rows))
        return self._decisions[1]

    def left(self) -> list[str]:
        """The method of each trial still to run or running: tuning, and the evaluation needed now."""
        return [s.method for s in self.searches for _ in range(s.remaining)] + self.evaluation_left()

    def evaluation_left(self) -> list[str]:
        """The method of each evaluation trial needed now and not yet recorded (sequential: the current looks)."""
        keys, decisions = self.table.keys(), self.decisions()
        return [m.name for m, seed in evaluation_needed(self.spec, decisions) if eval_key(m.name, seed) not in keys]

    # ------------------------------------------------------------------------------------------- the steps

    def _next_tuning(self) -> TrialPlan | None:
        ready = [s for s in self.searches if self._open[s.search_id] and s.ready(self._open[s.search_id][0])]
        if not ready:
            return None
        s = min(ready, key=lambda s: s.budget - len(self._open[s.search_id]))
        index = self._open[s.search_id].pop(0)
        return s.make_plan(s.suggest(index), index)

    def _emit(self, plan: TrialPlan | None) -> TrialPlan | None:
        if plan is not None:
            self._emitted.add(plan.key)
        return plan

    def evaluation_ready(self) -> tuple[tuple[float, ...], MethodSpec, int] | None:
        """(priority, method, seed) of the evaluation trial that goes first (lowest priority) of those ready, if
        any; a suite compares priorities across its tasks' streams."""
        rows = self.table.rows()
        self._select_finished(rows)
        decisions = self.decisions()
        ready = [
            (self._priority(method.name, seed, decisions, rows), method, seed)
            for method, seed in evaluation_needed(self.spec, decisions)
            if eval_key(method.name, seed) not in self._emitted and method.name in self._selections
        ]
        return min(ready, key=lambda ready: ready[0]) if ready else None

    def _plan_of(self, method: MethodSpec, seed: int) -> TrialPlan:
        decisions = self.decisions()
        round_ = decisions.round_of(seed) if decisions is not None else None
        return self._plan_eval(method, seed, self._selections[method.name].params, round_)

    def _priority(
        self, method: str, seed: int, decisions: StudyDecisions | None, rows: list[TrialRow]
    ) -> tuple[float, ...]:
        """Which ready evaluation trial goes first (lowest). A list of seeds: seed by seed, so that a study cut short
        has whole pairs. Rounds: the earliest round, whose looks unlock the next; in it the reference first (every
        comparison waits for it), then the slowest method, so that the trials left at the very end, while other
        slots idle, are short ones. The order changes when trials run, never which trials run."""
        position = self.spec.evaluation.seed_list.index(seed)
        seconds = self._seconds(method, rows)
        if decisions is None:
            return (position, -seconds)
        return (decisions.round_of(seed), method != self.spec.reference, -seconds, position)

    def _seconds(self, method: str, rows: list[TrialRow]) -> float:
        """The mean recorded wall time of ``method``'s trials (of all trials while it has none; 0 before any)."""
        if self._times is None or self._times[0] != len(rows):
            times: dict[str, list[float]] = {}
            for r in rows:
                if r.wall_time_s is not None and not r.stopped_by_scheduler:
                    times.setdefault(r.method, []).append(r.wall_time_s)
            every = [t for ts in times.values() for t in ts]
            means = {m: sum(ts) / len(ts) for m, ts in times.items()}
            self._times = (len(rows), means, sum(every) / len(every) if every else 0.0)
        _, means, fallback = self._times
        return means.get(method, fallback)

    def _select_finished(self, rows: list[TrialRow]) -> None:
        """Select each method whose tuning trials are all recorded (a method without a search at once)."""
        new = False
        for method in self.spec.methods:
            if method.name in self._selections:
                continue
            tuned = rows_of(rows, "tune", method.name)
            if method.tuned and len(tuned) < self.spec.tuning.trials * self.spec.tuning.repeats:
                continue
            self._selections[method.name] = select(method, tuned)
            new = True
        if new:
            self._on_selected(self.selections)

    def recorded(self) -> None:
        """A trial's row was recorded: say which comparisons it closed."""
        decisions = self.decisions()
        if decisions is None:
            return
        for m in decisions.methods:
            if m.closed and m.method not in self._announced:
                self._announced.add(m.method)
                self._on_decided(m)
