"""A finished (or part-finished) study folder, read for the report: its spec, its trials table, its selection.

``load_study_results(study_dir)`` raises ``ReportInputError`` naming the file and the fix when the folder
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
import pandas as pd
from pydantic import ValidationError

from pipeline.results.table import TABLE_NAME, read_table
from pipeline.results.selection import Selection, select_all
from pipeline.spec.study import SPEC_FILE, StudySpec

FAILURE_SCORE = 0.0  # a diverged run's accuracy under the "failure" policy: the worst an accuracy can be


class ReportInputError(ValueError):
    """The study folder cannot be reported on; the message names the file and what to do."""


def higher_is_better(metric: str) -> bool:
    return not metric.endswith("_loss")


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
    rows: list[dict[str, Any]]
    selections: dict[str, Selection]

    def phase(self, phase: str, method: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["phase"] == phase and (method is None or r["method"] == method)]

    def metric_matrix(self, metric: str, diverged: str) -> MetricMatrix:
        """``diverged="failure"`` scores a diverged run at the worst accuracy (0); a loss has no worst value, so
        there (and under ``"exclude"``) the run is left out of the comparisons that need it."""
        seeds = tuple(self.spec.evaluation.seeds)
        methods = tuple(m.name for m in self.spec.methods)
        shape = (len(seeds), len(methods))
        scores = np.full(shape, np.nan)
        status = np.full(shape, "missing", dtype=object)
        as_failure = np.zeros(shape, dtype=bool)
        for row in self.phase("eval"):
            if row["method"] not in methods or row["seed"] not in seeds:
                continue  # a run of a method or seed that is no longer in the spec
            i, j = seeds.index(row["seed"]), methods.index(row["method"])
            status[i, j] = row["status"]
            if row["status"] == "ok":
                scores[i, j] = number(row.get(metric))
            elif row["status"] == "diverged" and diverged == "failure" and higher_is_better(metric):
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


def load_study_results(study_dir: str | Path) -> StudyResults:
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise ReportInputError(f"{study_dir}: no such study folder; pass OUT/<study>, the folder `sam-study run` wrote")
    spec_path = study_dir / SPEC_FILE
    if not spec_path.exists():
        raise ReportInputError(
            f"{spec_path}: not found, so {study_dir} is not a study folder; pass OUT/<study> as written by `sam-study run`"
        )
    try:
        spec = StudySpec.model_validate(json.loads(spec_path.read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as error:
        first = str(error).splitlines()[0]
        raise ReportInputError(
            f"{spec_path}: cannot be read as a study spec ({first}); run the study again to rewrite it"
        ) from None
    table_path = study_dir / TABLE_NAME
    if not table_path.exists():
        raise ReportInputError(f"{table_path}: not found; no trial of this study has finished yet")
    rows = read_rows(table_path, study=spec.name)
    return StudyResults(study_dir, spec, rows, select_all(spec, rows))


def read_rows(table_path: Path, study: str) -> list[dict[str, Any]]:
    """The rows of ``study``'s trials table as plain records; ``ReportInputError`` for a missing or damaged file,
    or the table of another study (its rows would be compared as if they were this study's)."""
    if not table_path.is_file():
        raise ReportInputError(f"{table_path}: no such trials table")
    try:
        frame = read_table(table_path)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise ReportInputError(f"{table_path}: cannot be read as Parquet ({error}); it is damaged") from None
    missing = {"study", "phase", "method", "seed", "status"} - set(frame.columns)
    if missing:
        raise ReportInputError(f"{table_path}: not a trials table, it lacks the column(s) {', '.join(sorted(missing))}")
    foreign = sorted({str(name) for name in frame["study"].unique()} - {study})
    if foreign:
        raise ReportInputError(
            f"{table_path}: a trials table of study {', '.join(repr(n) for n in foreign)}, not of {study!r}; "
            f"give the table that study {study!r} wrote"
        )
    return _records(frame)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row in rows:
        for key in ("seed", "search", "trial_index"):
            if row.get(key) is not None:
                row[key] = int(row[key])
    return rows
