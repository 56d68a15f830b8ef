"""A finished (or part-finished) study folder, read back: its spec, its trials table, its selection.

``load_study_results(study_dir)`` raises ``StudyFolderError`` naming the file and the fix when the folder
cannot be reported on at all; everything less (a missing method, one seed, diverged runs) is the report's
to describe, not an error here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from pipeline.results.errors import StudyFolderError
from pipeline.results.folder import StudyFolder
from pipeline.results.row import TrialRow
from pipeline.results.selection import Selection, select_all
from pipeline.results.table import read_rows, table_exists
from pipeline.spec.study import StudySpec

FAILURE_SCORE = 0.0  # a diverged run's accuracy under the "failure" policy: the worst an accuracy can be


def higher_is_better(metric: str) -> bool:
    return not metric.endswith("_loss")


def metric_sign(metric: str) -> float:
    """1 where higher is better, -1 where lower is: a metric times its sign is oriented so that higher is better."""
    return 1.0 if higher_is_better(metric) else -1.0


@dataclass(frozen=True)
class MetricMatrix:
    """The evaluation phase as ``(n_seeds, n_methods)`` arrays, one row per seed of the spec, one column per method.

    ``scores`` holds the metric (NaN where there is no score), ``status`` each run's status (``ok``,
    ``diverged``, ``failed``, or ``missing`` when the table has no such run), ``scored_as_failure`` marks the
    diverged runs that were given the failure score.
    """

    metric: str
    seeds: tuple[int, ...]
    methods: tuple[str, ...]
    scores: np.ndarray
    status: np.ndarray
    scored_as_failure: np.ndarray

    def counts(self, method: str) -> dict[str, int]:
        column = self.status[:, self.methods.index(method)]
        return {s: int((column == s).sum()) for s in ("ok", "diverged", "failed", "missing")}


@dataclass(frozen=True)
class StudyResults:
    study_dir: Path
    spec: StudySpec
    rows: list[TrialRow]
    selections: dict[str, Selection]

    def phase(self, phase: str, method: str | None = None) -> list[TrialRow]:
        """The rows of ``phase`` (of ``method`` when given), in table order."""
        return rows_of(self.rows, phase, method)

    def metric_matrix(self, metric: str, diverged: str) -> MetricMatrix:
        return metric_matrix(self.spec, self.rows, metric, diverged)


def metric_matrix(spec: StudySpec, rows: list[TrialRow], metric: str, diverged: str) -> MetricMatrix:
    """The evaluation rows of ``spec`` as a ``MetricMatrix`` over every seed the spec may run.

    ``diverged="failure"`` scores a diverged run at the worst accuracy (0); a loss has no worst value, so there
    (and under ``"exclude"``) the run is left out of the comparisons that need it."""
    seeds = tuple(spec.evaluation.seed_list)
    methods = tuple(m.name for m in spec.methods)
    shape = (len(seeds), len(methods))
    scores = np.full(shape, np.nan)
    status = np.full(shape, "missing", dtype=object)
    as_failure = np.zeros(shape, dtype=bool)
    for row in rows_of(rows, "eval"):
        if row.method not in methods or row.seed not in seeds:
            continue  # a run of a method or seed that is no longer in the spec
        i, j = seeds.index(row.seed), methods.index(row.method)
        status[i, j] = row.status
        if row.status == "ok":
            scores[i, j] = number(getattr(row, metric))
        elif row.status == "diverged" and diverged == "failure" and higher_is_better(metric):
            scores[i, j] = FAILURE_SCORE
            as_failure[i, j] = True
    return MetricMatrix(metric, seeds, methods, scores, status, as_failure)


def number(value: Any) -> float:
    """A table cell as a float; None, NaN and non-numbers are NaN."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def rows_of(rows: list[TrialRow], phase: str, method: str | None = None) -> list[TrialRow]:
    """The rows of ``phase`` (of ``method`` when given), in their order."""
    return [r for r in rows if r.phase == phase and (method is None or r.method == method)]


def load_study_results(study_dir: str | Path) -> StudyResults:
    folder = StudyFolder(Path(study_dir))
    if not folder.path.is_dir():
        raise StudyFolderError(
            f"{folder.path}: no such study folder; pass OUT/<study>, the folder `sam-study run` wrote"
        )
    if not folder.spec.exists():
        raise StudyFolderError(
            f"{folder.spec}: not found, so {folder.path} is not a study folder; pass OUT/<study> as written by "
            "`sam-study run`"
        )
    try:
        spec = StudySpec.model_validate(json.loads(folder.spec.read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as error:
        first = str(error).splitlines()[0]
        raise StudyFolderError(
            f"{folder.spec}: cannot be read as a study spec ({first}); run the study again to rewrite it"
        ) from None
    if not table_exists(folder.table):
        raise StudyFolderError(f"{folder.table}: not found; no trial of this study has finished yet")
    rows = read_rows(folder.table, study=spec.name)
    return StudyResults(folder.path, spec, rows, select_all(spec, rows))
