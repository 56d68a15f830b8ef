"""The reports a run ends with, in the shape the orchestrator takes them (``pipeline.study.driver.Reports``): each
writes its files, prints its lines and says what to log on the MLflow run. ``cli/`` hands them to the driver."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pipeline.report.suite import SUITE_REPORT_FILE, write_suite_report
from pipeline.report.summary import summary_table
from pipeline.report.write import print_outcome, write_report
from pipeline.results.report_files import ReportFiles
from pipeline.results.study_results import StudyResults


def study_report(study: StudyResults, stream: TextIO) -> ReportFiles:
    """A finished study's summary table, then its report (statistics, decisions, figures) into its folder."""
    print(summary_table(study.spec, study.rows, study.selections), file=stream, flush=True)
    outcome = write_report(study.study_dir)
    print_outcome(outcome, stream)
    files = [outcome.report_path, outcome.stats_path] + ([outcome.decisions_path] if outcome.decisions_path else [])
    return ReportFiles(files, outcome.figures_dir, outcome.decision_tags)


def suite_report(suite_dir: Path, stream: TextIO) -> ReportFiles:
    """The suite report over every task, into the suite's folder."""
    outcome = write_suite_report(suite_dir)
    print(outcome.verdict, file=stream)
    print(f"suite report: {suite_dir / SUITE_REPORT_FILE}", file=stream, flush=True)
    return ReportFiles(outcome.files, outcome.figures_dir)
