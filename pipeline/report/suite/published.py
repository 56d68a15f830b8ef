"""A paper's published table beside the suite's own runs of the same task and methods.

Per method: the published mean ± std (ddof 0) over its runs; ours over the first as many seeds (ddof 0, as
published), and over every seed the task ran with the t interval of the mean; whether the published mean lies in
that interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.results.study_results import StudyResults
from pipeline.spec.suite import PublishedSpec
from pipeline.stats import mean_t_interval


@dataclass(frozen=True)
class PublishedRow:
    source: str
    task: str
    method: str
    metric: str
    published_mean: float
    published_std: float
    published_runs: int
    first_mean: float | None  # ours, over the first ``published_runs`` seeds (ddof 0)
    first_std: float | None
    first_runs: int
    mean: float | None  # ours, over every seed run, with its t interval
    low: float | None
    high: float | None
    runs: int

    @property
    def inside(self) -> bool | None:
        """Whether the published mean lies in our interval (None without one)."""
        if self.low is None or self.high is None:
            return None
        return self.low <= self.published_mean <= self.high


def published_rows(table: PublishedSpec, results: StudyResults, diverged: str, level: float) -> list[PublishedRow]:
    matrix = results.metric_matrix(table.metric, diverged)
    rows = []
    for method, (mean, std) in table.values.items():
        scores = matrix.scores[:, matrix.methods.index(method)]
        first = scores[: table.seeds][np.isfinite(scores[: table.seeds])]
        every = scores[np.isfinite(scores)]
        interval = mean_t_interval(every, confidence_level=level) if every.size >= 2 else None
        rows.append(
            PublishedRow(
                source=table.source,
                task=table.task,
                method=method,
                metric=table.metric,
                published_mean=mean,
                published_std=std,
                published_runs=table.seeds,
                first_mean=float(first.mean()) if first.size else None,
                first_std=float(first.std(ddof=0)) if first.size else None,
                first_runs=int(first.size),
                mean=float(every.mean()) if every.size else None,
                low=interval.low if interval else None,
                high=interval.high if interval else None,
                runs=int(every.size),
            )
        )
    return rows
