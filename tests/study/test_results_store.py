"""The trials table: appended row by row, each row one part written atomically, one row per trial key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.results import table as results_store
from pipeline.results.row import TrialRow
from pipeline.results.table import TrialsTable, read_frame
from tests.rows import make_row


def row(key: str, **extra: object) -> TrialRow:
    return make_row(trial_key=key, status="ok", **extra)


def test_rows_are_appended_and_read_back_with_the_union_of_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trials.parquet"
    table = TrialsTable(path)
    table.append(row("a", rho=0.05, rho_trajectory=None))
    table.append(row("b", rho=None, rho_trajectory=[0.05, 0.07], **{"hp.sigma": 1.0}))
    frame = read_frame(path)
    assert list(frame.trial_key) == ["a", "b"]
    assert list(frame.columns[:5]) == ["study", "phase", "method", "optimizer", "trial_key"]
    assert frame["hp.sigma"].isna().iloc[0] and frame["hp.sigma"].iloc[1] == 1.0
    assert list(frame.rho_trajectory.iloc[1]) == [0.05, 0.07]
    reopened = TrialsTable(path)
    assert reopened.keys() == {"a", "b"} and len(reopened) == 2


def test_a_trial_key_is_recorded_once(tmp_path: Path) -> None:
    table = TrialsTable(tmp_path / "trials.parquet")
    table.append(row("a"))
    with pytest.raises(ValueError, match="already in"):
        table.append(row("a"))


def test_a_failed_write_leaves_the_previous_table_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trials.parquet"
    table = TrialsTable(path)
    table.append(row("a"))
    before = _files(tmp_path)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results_store.pq, "write_table", full_disk)
    with pytest.raises(OSError, match="No space left"):
        table.append(row("b"))
    assert _files(tmp_path) == before, "the table on disk is as it was, and no temporary file is left behind"
    assert table.keys() == {"a"}
    assert TrialsTable(path).keys() == {"a"}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
