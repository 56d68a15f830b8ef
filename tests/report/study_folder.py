"""A hand-written study folder (``tests.stats.synthetic_study``) with its rows changed, and its analysis."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pipeline.report.analysis import analyse
from pipeline.report.stats_record import StudyAnalysis
from pipeline.results.folder import TABLE_FILE
from pipeline.results.row import TrialRow
from pipeline.results.study_results import load_study_results
from pipeline.results.table import read_rows, write_rows
from tests.stats.synthetic_study import _row, write_study

Tuning = Mapping[str, Sequence[tuple[float, float | None]]]  # method -> (ρ, validation accuracy; None: diverged)


def write_changed_study(
    folder: Path,
    scores: Mapping[str, Sequence[float]],
    *,
    change: Callable[[TrialRow], TrialRow] = lambda row: row,
    tuning: Tuning | None = None,
) -> Path:
    """``write_study``, then every row passed through ``change``; ``tuning`` replaces the tuned methods' trials."""
    study_dir = write_study(folder, scores)
    rows = read_rows(study_dir / TABLE_FILE)
    if tuning is not None:
        rows = [r for r in rows if r.phase == "eval"] + _tuning_rows(tuning)
    write_rows([change(r) for r in rows], study_dir / TABLE_FILE)
    return study_dir


def _tuning_rows(tuning: Tuning) -> list[TrialRow]:
    return [
        _row(
            method,
            "tune",
            f"tune/{method}/search0/trial{i}",
            10_000,
            "ok" if accuracy is not None else "diverged",
            accuracy,
            rho=rho,
            trial_index=i,
            params={"rho": rho},
        )
        for method, trials in tuning.items()
        for i, (rho, accuracy) in enumerate(trials)
    ]


def analysis_of(study_dir: Path) -> StudyAnalysis:
    return analyse(load_study_results(study_dir))
