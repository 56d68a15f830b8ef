"""Smoke test of `sam-study bench recording` (tiny tables; no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.bench.recording import main, realistic_row
from pipeline.cli.main import BENCHMARKS
from pipeline.results.table import TrialsTable, read_rows


def test_main_prints_one_line_per_size_both_ways(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--sizes", "3", "10", "--appends", "2", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split("|")[1].strip() for line in lines] == ["3", "10"]
    assert all(float(cell) > 0 for line in lines for cell in line.strip("|").split("|")[1:])
    assert "Command: `sam-study bench recording --sizes 3 10 --appends 2" in out and "Machine:" in out
    assert BENCHMARKS["recording"] == "pipeline.bench.recording"
    assert not any(tmp_path.iterdir()), "the tables are written to a temporary folder, removed after"


def test_a_realistic_row_reads_back_as_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    TrialsTable(path).append(realistic_row(7))
    assert read_rows(path) == [realistic_row(7)]
