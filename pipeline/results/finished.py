"""What passes between a finished run and its report: the study handed to the report, and the files the report
wrote, for its MLflow run. The orchestrator (``study/``) and the report (``report/``) both read these; neither
imports the other, and ``cli/`` composes the two."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.results.row import TrialRow
from pipeline.results.selection import Selection
from pipeline.spec.study import StudySpec


@dataclass(frozen=True)
class FinishedStudy:
    """A study whose every trial is recorded, as its report is handed it."""

    spec: StudySpec
    folder: Path
    rows: list[TrialRow]
    selections: dict[str, Selection]


@dataclass(frozen=True)
class ReportFiles:
    """What a report wrote, for its MLflow run: its files, its figures' folder and the run's tags."""

    files: list[Path]
    figures_dir: Path
    tags: dict[str, str] = field(default_factory=dict)
