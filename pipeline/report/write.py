"""Write a study's report into its folder: ``stats.json``, ``figures/*.png``, ``decisions.json`` (a study with
sequential seeds), then ``report.md``.

Each file is written whole or not at all (``pipeline._io``), so an interrupted report never leaves a half-written
one behind, and nothing else in the folder is touched.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from pipeline._io import write_json_atomically, write_text_atomically
from pipeline.report.analysis import analyse
from pipeline.report.figures import FigureFile, SkippedFigure, draw_figures
from pipeline.report.markdown import render
from pipeline.report.stats_record import StudyAnalysis
from pipeline.results.folder import FIGURES_DIR, StudyFolder
from pipeline.results.study_results import StudyFolderError, load_study_results
from pipeline.spec.errors import described, field_errors
from pipeline.spec.study import StatisticsSpec


@dataclass(frozen=True)
class ReportOutcome:
    study_dir: Path
    analysis: StudyAnalysis
    figures: list[FigureFile]
    skipped: list[SkippedFigure]

    @property
    def report_path(self) -> Path:
        return StudyFolder(self.study_dir).report

    @property
    def stats_path(self) -> Path:
        return StudyFolder(self.study_dir).stats

    @property
    def figures_dir(self) -> Path:
        return StudyFolder(self.study_dir).figures

    @property
    def decisions_path(self) -> Path | None:
        """``decisions.json``; None for a list of seeds, which decides nothing sequentially."""
        return StudyFolder(self.study_dir).decisions if self.analysis.decisions is not None else None

    @property
    def decision_tags(self) -> dict[str, str]:
        """Method -> its decision (better, worse, equivalent, undecided); empty for a list of seeds."""
        decisions = self.analysis.decisions
        return {m.method: m.decision for m in decisions.methods} if decisions is not None else {}

    @property
    def problems(self) -> tuple[str, ...]:
        return self.analysis.problems


def statistics_with(base: StatisticsSpec, overrides: dict[str, Any]) -> StatisticsSpec:
    """The study's statistics settings with command-line ``overrides`` (None = keep) laid over them."""
    values = {**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return StatisticsSpec.model_validate(values)
    except ValidationError as error:
        first = field_errors(error)[0]
        flag = "--" + ".".join(str(p) for p in first.loc).replace("_", "-")
        raise StudyFolderError(f"{flag}: {described(first, StatisticsSpec)}") from None


def write_report(study_dir: str | Path, overrides: dict[str, Any] | None = None) -> ReportOutcome:
    """Raises StudyFolderError when the folder cannot be reported on; otherwise writes every file it can and
    returns the outcome, whose ``problems`` say what the report could not decide."""
    results = load_study_results(study_dir)
    statistics = statistics_with(results.spec.statistics, overrides or {})
    analysis = analyse(results, statistics)
    folder = StudyFolder(results.study_dir)
    shutil.rmtree(folder.figures, ignore_errors=True)  # figures of an earlier report may no longer apply
    figures, skipped = draw_figures(analysis, folder.figures)
    stats = analysis.to_dict()
    stats["figures"] = [{"file": f"{FIGURES_DIR}/{f.name}", "title": f.title, "caption": f.caption} for f in figures]
    stats["skipped_figures"] = [{"name": s.name, "reason": s.reason} for s in skipped]
    write_json_atomically(folder.stats, stats)
    if analysis.decisions is not None:
        write_json_atomically(folder.decisions, analysis.decisions.to_dict())
    write_text_atomically(folder.report, render(analysis, figures, skipped))
    return ReportOutcome(folder.path, analysis, figures, skipped)


def print_outcome(outcome: ReportOutcome, stream: TextIO) -> None:
    """The verdict and where the files are; the problems go to stderr, where a script sees them."""
    print(outcome.analysis.verdict, file=stream)
    not_drawn = f" ({len(outcome.skipped)} not drawn: {', '.join(s.name for s in outcome.skipped)})"
    decisions = f"decisions: {outcome.decisions_path}\n" if outcome.decisions_path else ""
    print(
        f"report: {outcome.report_path}\nstatistics: {outcome.stats_path}\n{decisions}"
        f"figures: {len(outcome.figures)} in {outcome.figures_dir}" + (not_drawn if outcome.skipped else ""),
        file=stream,
        flush=True,
    )
    for problem in outcome.problems:
        print(f"incomplete: {problem}", file=sys.stderr)
