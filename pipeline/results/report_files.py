"""What a report hands back to the run that asked for it: the files it wrote, for the run's MLflow records. The
orchestrator (``study/``) and the report (``report/``) both read it; neither imports the other, and ``cli/``
composes the two. The report is handed the finished study as ``study_results.StudyResults``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ReportFiles:
    """What a report wrote, for its MLflow run: its files, its figures' folder and the run's tags."""

    files: list[Path]
    figures_dir: Path
    tags: dict[str, str] = field(default_factory=dict)
