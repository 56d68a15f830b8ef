"""The suite report: each task's study report, then the statistics across tasks and the claims, into the suite
folder (``report.md``, ``stats.json``, ``figures/``), each file whole or not at all.

``write_suite_report(OUT/<suite>)`` reads ``suite.json`` and every task's folder ``OUT/<suite>/<task>``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from pipeline._io import finite_or_none, write_json_atomically, write_text_atomically
from pipeline.report.suite.analysis import SuiteAnalysis, analyse_suite
from pipeline.report.suite.claims import judge_claims
from pipeline.report.suite.figures import draw_suite_figures
from pipeline.report.suite.markdown import render_suite, suite_verdict
from pipeline.report.suite.published import published_rows
from pipeline.report.write import ReportOutcome, write_report
from pipeline.results.folder import FIGURES_DIR, REPORT_FILE, STATS_FILE
from pipeline.results.study_results import StudyFolderError, load_study_results
from pipeline.spec.errors import format_validation_error
from pipeline.spec.suite import SUITE_FILE, SuiteSpec

SUITE_REPORT_FILE = REPORT_FILE

__all__ = ["SUITE_REPORT_FILE", "SuiteReportOutcome", "is_suite_folder", "write_suite_report"]


@dataclass(frozen=True)
class SuiteReportOutcome:
    suite_dir: Path
    analysis: SuiteAnalysis
    tasks: dict[str, ReportOutcome]

    @property
    def verdict(self) -> str:
        return self.analysis.verdict

    @property
    def files(self) -> list[Path]:
        return [self.suite_dir / REPORT_FILE, self.suite_dir / STATS_FILE]

    @property
    def figures_dir(self) -> Path:
        return self.suite_dir / FIGURES_DIR

    @property
    def problems(self) -> tuple[str, ...]:
        return self.analysis.problems + tuple(f"{t}: {p}" for t, o in self.tasks.items() for p in o.problems)


def is_suite_folder(path: str | Path) -> bool:
    return (Path(path) / SUITE_FILE).is_file()


def read_suite(suite_dir: Path) -> SuiteSpec:
    """``suite.json``, validated by the model's own checks, as a suite file is."""
    path = suite_dir / SUITE_FILE
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise _unreadable(path, str(error).splitlines()[0]) from None
    try:
        return SuiteSpec.model_validate(raw)
    except ValidationError as error:
        raise _unreadable(path, format_validation_error(error, raw, SuiteSpec)) from None


def _unreadable(path: Path, problem: str) -> StudyFolderError:
    return StudyFolderError(f"{path}: cannot be read as a suite ({problem}); run the suite again to rewrite it")


def write_suite_report(suite_dir: str | Path) -> SuiteReportOutcome:
    """Every task's report, then the suite's. Raises StudyFolderError when a task cannot be reported on (a task
    with no finished trial yet); the tasks' reports written before stay."""
    suite_dir = Path(suite_dir).resolve()
    suite = read_suite(suite_dir)
    outcomes = {t: write_report(suite_dir / t) for t in suite.task_names}
    analyses = {t: o.analysis for t, o in outcomes.items()}
    results = {t: load_study_results(suite_dir / t) for t in suite.task_names}
    analysis = analyse_suite(suite, str(suite_dir), analyses)
    level = analysis.confidence_level
    published = tuple(
        row
        for table in suite.published
        for row in published_rows(table, results[table.task], analyses[table.task].statistics.diverged, level)
    )
    analysis = replace(analysis, claims=judge_claims(suite, analyses, results), published=published)
    analysis = replace(analysis, verdict=suite_verdict(analysis))
    figures_dir = suite_dir / FIGURES_DIR
    shutil.rmtree(figures_dir, ignore_errors=True)
    figures, skipped = draw_suite_figures(analysis, figures_dir)
    stats = finite_or_none(asdict(analysis))
    stats["figures"] = [{"file": f"{FIGURES_DIR}/{f.name}", "title": f.title, "caption": f.caption} for f in figures]
    write_json_atomically(suite_dir / STATS_FILE, stats)
    write_text_atomically(suite_dir / REPORT_FILE, render_suite(analysis, figures, skipped))
    return SuiteReportOutcome(suite_dir, analysis, outcomes)
