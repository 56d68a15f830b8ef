"""The sequential decisions' numbers back in the metric's units, for every text and figure that shows them.

The decisions are made on differences where higher is better (``metric_sign``), so a loss's are negated; shown to a
reader, an estimate or interval is method − reference in the metric's own units.
"""

from __future__ import annotations

from pipeline.decisions import StudyDecisions
from pipeline.results.study_results import higher_is_better, metric_sign


def in_metric_units(decisions: StudyDecisions, low: float, high: float) -> tuple[float, float]:
    """An interval of ``decisions`` as method − reference in the metric's units (a loss's ends swap)."""
    return (low, high) if higher_is_better(decisions.metric) else (-high, -low)


def estimate_in_metric_units(decisions: StudyDecisions, estimate: float) -> float:
    return metric_sign(decisions.metric) * estimate
