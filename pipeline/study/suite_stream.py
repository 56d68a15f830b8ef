"""A suite's trials as one stream for one Tune run: every task's ``StudyStream`` behind a single ``next_plan``.

A free slot takes, across all tasks: first a ready tuning trial of any task (the searches are the longest chains),
then the evaluation trial whose priority is lowest over every task's own order (the earliest round first, the
reference first in it, the slowest method next), so no slot waits for one task while another has work.
"""

from __future__ import annotations

from pipeline.study.plan import TrialPlan
from pipeline.study.stream import DONE, WAIT, StudyStream


class SuiteStream:
    def __init__(self, streams: list[StudyStream]) -> None:
        self.streams = streams
        self._by_study = {s.spec.name: s for s in streams}

    def next_plan(self) -> TrialPlan | str:
        """The next trial of any task, ``WAIT`` (ask again when a trial ends) or ``DONE`` (every task is done)."""
        for stream in self.streams:
            plan = stream.next_tuning()
            if plan is not None:
                return plan
        ready = [(r[0], i) for i, s in enumerate(self.streams) if (r := s.evaluation_ready()) is not None]
        if ready:
            plan = self.streams[min(ready)[1]].next_evaluation()
            if plan is not None:
                return plan
        return WAIT if any(s.idle() == WAIT for s in self.streams) else DONE

    def tuning_finished(self, plan: TrialPlan, value: float | None) -> None:
        self._by_study[plan.study].tuning_finished(plan, value)
