"""The one decision engine, between the statistics and the report: which comparisons a study's rows decide, and
which seeds each method needs next. The orchestrator takes its control decisions from here (never from
``report/``), the report writes them down, and the nightly decides its rounds and its verdict with the same code.
"""

from pipeline.decisions.engine import BASELINE, NON_INFERIOR, REGRESSED, cut_at_first_gap, decide
from pipeline.decisions.records import PROCEDURE, UNDECIDED_MEANING, MethodDecision, StudyDecisions

__all__ = [
    "BASELINE",
    "NON_INFERIOR",
    "PROCEDURE",
    "REGRESSED",
    "UNDECIDED_MEANING",
    "MethodDecision",
    "StudyDecisions",
    "cut_at_first_gap",
    "decide",
]
