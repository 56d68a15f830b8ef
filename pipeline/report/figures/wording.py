"""The words figures put on axes and captions: the metric, its direction, the confidence level, a p-value."""

from __future__ import annotations

import math

from pipeline.report.stats_record import StudyAnalysis


def metric_label(analysis: StudyAnalysis) -> str:
    return analysis.statistics.metric.replace("_", " ")


def better_word(analysis: StudyAnalysis) -> str:
    return "higher is better" if analysis.higher_is_better else "lower is better"


def ci_level(analysis: StudyAnalysis) -> int:
    return round(100 * analysis.statistics.confidence_level)


def adjusted_p_label(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "adj. p = n/a"
    if p < 0.001:
        return f"adj. p = {p:.1e}"
    return f"adj. p = {p:.3g}"
