"""Write a study's report into its folder: ``stats.json``, ``figures/*.png``, then ``report.md``.

Each file is written whole or not at all (temporary file, then rename), so an interrupted report never
leaves a half-written one behind, and nothing else in the folder is touched.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.report.analysis import StudyAnalysis, analyse
from pipeline.report.figures import FigureFile, SkippedFigure, draw_figures
from pipeline.report.markdown import FIGURES_DIR, render
from pipeline.results.study_results import ReportInputError, load_study_results
from pipeline.spec.study import StatisticsSpec

REPORT_FILE = "report.md"
STATS_FILE = "stats.json"
TRACKING_FILE = "mlflow.json"  # where the study's MLflow parent run is: written by `sam-study run`


@dataclass(frozen=True)
class ReportOutcome:
    study_dir: Path
    analysis: StudyAnalysis
    figures: list[FigureFile]
    skipped: list[SkippedFigure]

    @property
    def report_path(self) -> Path:
        return self.study_dir / REPORT_FILE

    @property
    def stats_path(self) -> Path:
        return self.study_dir / STATS_FILE

    @property
    def figures_dir(self) -> Path:
        return self.study_dir / FIGURES_DIR

    @property
    def problems(self) -> tuple[str, ...]:
        return self.analysis.problems


def statistics_with(base: StatisticsSpec, overrides: dict[str, Any]) -> StatisticsSpec:
    """The study's statistics settings with command-line ``overrides`` (None = keep) laid over them."""
    values = {**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return StatisticsSpec.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ReportInputError(f"--{field.replace('_', '-')}: {first['msg']} (got {first.get('input')!r})") from None


def write_report(study_dir: str | Path, overrides: dict[str, Any] | None = None) -> ReportOutcome:
    """Raises ReportInputError when the folder cannot be reported on; otherwise writes every file it can and
    returns the outcome, whose ``problems`` say what the report could not decide."""
    results = load_study_results(study_dir)
    statistics = statistics_with(results.spec.statistics, overrides or {})
    analysis = analyse(results, statistics)
    study_dir = results.study_dir
    figures_dir = study_dir / FIGURES_DIR
    shutil.rmtree(figures_dir, ignore_errors=True)  # figures of an earlier report may no longer apply
    figures, skipped = draw_figures(analysis, figures_dir)
    stats = analysis.to_dict()
    stats["figures"] = [{"file": f"{FIGURES_DIR}/{f.name}", "title": f.title, "caption": f.caption} for f in figures]
    stats["skipped_figures"] = [{"name": s.name, "reason": s.reason} for s in skipped]
    write_text_atomically(study_dir / STATS_FILE, json.dumps(stats, indent=2, allow_nan=False) + "\n")
    write_text_atomically(study_dir / REPORT_FILE, render(analysis, figures, skipped))
    return ReportOutcome(study_dir, analysis, figures, skipped)


def recorded_tracking(study_dir: Path) -> dict[str, str] | None:
    """The tracking URI and parent run id ``sam-study run`` recorded for this folder, if any."""
    path = study_dir / TRACKING_FILE
    if not path.exists():
        return None
    try:
        recorded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(recorded, dict) or not {"tracking_uri", "parent_run_id"} <= set(recorded):
        return None
    return recorded


def record_tracking(
    study_dir: Path, tracking_uri: str, experiment_id: str, parent_run_id: str, credentials: Sequence[str] = ()
) -> None:
    """``tracking_uri`` without a password; ``credentials``: the names of the variables that held it (a later
    ``sam-study report`` needs them set again), never their values."""
    payload = {"tracking_uri": tracking_uri, "experiment_id": experiment_id, "parent_run_id": parent_run_id}
    if credentials:
        payload["credentials_from"] = ", ".join(credentials)
    write_text_atomically(study_dir / TRACKING_FILE, json.dumps(payload, indent=2) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """``path`` holds the old text or the new, never part of it (a full disk fails before the rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
