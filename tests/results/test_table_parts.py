"""The trials table's append-only layout: one part per append, read with the compacted file as one table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.results import table as results_table
from pipeline.results.folder import StudyFolder
from pipeline.results.row import TrialRow
from pipeline.results.table import (
    TableWriteError,
    TrialsTable,
    part_path,
    parts_folder,
    read_rows,
    table_exists,
    write_rows,
)
from tests.rows import make_row


def row(i: int, **extra: object) -> TrialRow:
    return make_row(trial_key=f"eval/sam/seed{i}", seed=i, status="ok", test_accuracy=0.5 + i / 1000, **extra)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_parts_folder_is_the_one_the_study_folder_names(tmp_path: Path) -> None:
    folder = StudyFolder(tmp_path)
    assert parts_folder(folder.table) == folder.table_parts


def test_parts_and_the_compacted_file_read_as_one_table_in_order(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    table = TrialsTable(path)
    for i in range(3):
        table.append(row(i))
    table.compact()
    reopened = TrialsTable(path)
    for i in range(3, 5):
        reopened.append(row(i))
    assert path.is_file() and len(list(parts_folder(path).iterdir())) == 2
    assert [r.trial_key for r in read_rows(path)] == [row(i).trial_key for i in range(5)]
    assert TrialsTable(path).rows() == reopened.rows()


def test_a_crash_between_writing_the_compacted_file_and_deleting_the_parts_duplicates_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trials.parquet"
    table = TrialsTable(path)
    for i in range(3):
        table.append(row(i))

    def crash(self: Path, missing_ok: bool = False) -> None:
        raise KeyboardInterrupt  # the process dies before any part is deleted

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", crash)
        with pytest.raises(KeyboardInterrupt):
            table.compact()
    assert path.is_file() and len(list(parts_folder(path).glob("*.parquet"))) == 3
    resumed = TrialsTable(path)
    assert [r.trial_key for r in resumed.rows()] == [row(i).trial_key for i in range(3)]
    resumed.append(row(3))  # past every part left behind: none is overwritten
    assert [r.trial_key for r in read_rows(path)] == [row(i).trial_key for i in range(4)]
    resumed.compact()
    assert [r.trial_key for r in read_rows(path)] == [row(i).trial_key for i in range(4)]


def test_a_part_that_cannot_be_written_leaves_the_table_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trials.parquet"
    table = TrialsTable(path)
    table.append(row(0))
    table.compact()
    table.append(row(1))
    before = files(tmp_path)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results_table.pq, "write_table", full_disk)
    with pytest.raises(TableWriteError, match=f"cannot write the trials table {path}: .*No space left") as failed:
        table.append(row(2))
    assert isinstance(failed.value.__cause__, OSError)
    assert files(tmp_path) == before, "the files are as they were, and no temporary file is left behind"
    assert len(table) == 2 and row(2).trial_key not in table.keys()
    monkeypatch.undo()
    table.append(row(2))  # the same row again, once the disk has room
    assert [r.trial_key for r in TrialsTable(path).rows()] == [row(i).trial_key for i in range(3)]


def test_a_table_written_before_parts_existed_reads_and_resumes(tmp_path: Path) -> None:
    """The previous version's folder: only trials.parquet, rewritten whole on every append."""
    path = tmp_path / "trials.parquet"
    old = [row(i, **{"hp.k": 3}) for i in range(2)] + [row(2)]  # hp.k an integer column with a gap, as before
    write_rows(old, path)
    before = read_rows(path)
    assert before[0].hparams == {"k": 3.0}  # a float column in one file: as the previous version read it
    table = TrialsTable(path)
    assert table.rows() == before and not parts_folder(path).exists()
    table.append(row(3, **{"hp.k": 4}))
    assert read_rows(path)[:3] == before and len(read_rows(path)) == 4
    table.compact()
    assert [p.name for p in tmp_path.iterdir()] == ["trials.parquet"]


def test_rows_read_from_parts_are_those_one_file_of_them_all_gives(tmp_path: Path) -> None:
    """An integer hyperparameter that some rows lack is a float column in one file: parts read the same."""
    path, whole = tmp_path / "trials.parquet", tmp_path / "whole" / "trials.parquet"
    rows = [row(0, **{"hp.k": 3}), row(1)]
    table = TrialsTable(path)
    for r in rows:
        table.append(r)
    write_rows(rows, whole)
    assert read_rows(path) == read_rows(whole)


def test_an_append_writes_one_small_file_whatever_the_table_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O(1) per trial, counted in rows written (not timed): each append writes one file of one row."""
    written: list[int] = []
    write_table = results_table.pq.write_table

    def counting(table: object, where: object, *args: object, **kwargs: object) -> None:
        written.append(table.num_rows)  # type: ignore[attr-defined]
        write_table(table, where, *args, **kwargs)

    monkeypatch.setattr(results_table.pq, "write_table", counting)
    path = tmp_path / "trials.parquet"
    table = TrialsTable(path)
    sizes = []
    for i in range(40):
        table.append(row(i))
        sizes.append(part_path(path, i).stat().st_size)
    assert written == [1] * 40, "every append wrote one file holding its row alone"
    assert max(sizes) - min(sizes) < 64, sizes  # the 40th part is no larger than the first
    table.compact()
    assert written[-1] == 40  # compaction: one file with every row


def test_compaction_leaves_one_file_and_no_parts(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    table = TrialsTable(path)
    for i in range(4):
        table.append(row(i))
    stale = parts_folder(path) / f".{part_path(path, 4).name}.999.tmp"  # a write a crash interrupted
    stale.write_bytes(b"half")
    rows = table.rows()
    table.compact()
    assert [p.name for p in tmp_path.iterdir()] == ["trials.parquet"]
    assert read_rows(path) == rows and table_exists(path)
    table.compact()  # nothing to do
    assert [p.name for p in tmp_path.iterdir()] == ["trials.parquet"]


def test_a_table_of_parts_only_exists_and_a_missing_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    assert not table_exists(path)
    TrialsTable(path).append(row(0))
    assert table_exists(path) and not path.exists()
    shutil.rmtree(parts_folder(path))
    assert not table_exists(path)


def test_a_damaged_part_is_named(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    TrialsTable(path).append(row(0))
    part_path(path, 0).write_bytes(b"PAR1 not really")
    with pytest.raises(Exception, match=r"000000000\.parquet: cannot be read as Parquet"):
        read_rows(path)


def test_a_table_not_yet_compacted_is_given_to_mlflow_as_one_file(tmp_path: Path) -> None:
    """sync-mlflow logs one trials.parquet even for a study stopped before its end; the folder is only read."""
    path = tmp_path / "study" / "trials.parquet"
    table = TrialsTable(path)
    for i in range(3):
        table.append(row(i))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    copy = results_table.whole_file(path, scratch)
    assert copy == scratch / "trials.parquet" and not path.exists()
    assert read_rows(copy) == read_rows(path) and not parts_folder(copy).exists()
    table.compact()
    assert results_table.whole_file(path, scratch) == path
