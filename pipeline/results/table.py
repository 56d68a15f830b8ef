"""The trials table, ``OUT/<study>/trials.parquet``: the only module that reads or writes Parquet.

One row per finished trial of either phase (``TrialRow``, whose module holds the schema), appended as each
trial finishes. Parquet cannot be appended in place, so an append writes its row alone, as one small Parquet
part in ``trials.parts/`` beside the table (``000000041.parquet``: the 42nd row); the cost of recording a trial
does not grow with the study. When the study ends, ``compact`` writes every row into ``trials.parquet`` and
deletes the parts. Every file is written to a temporary file and renamed into place: a crash or a full disk
leaves each file whole or absent, never a truncated one.

A reader reads the compacted table and then every part, in order, as one table, each trial once: a crash after
the compacted table was written but before its parts were deleted duplicates no row. A folder with only
``trials.parquet`` (written before parts existed, or compacted) reads as it always did.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline._io import replace_atomically
from pipeline.results.errors import StudyFolderError
from pipeline.results.row import TrialRow

# The columns a reader looks at first; the rest follow in alphabetical order.
LEADING_COLUMNS = (
    "study",
    "phase",
    "method",
    "optimizer",
    "trial_key",
    "search",
    "trial_index",
    "seed",
    "status",
    "rho",
    "test_accuracy",
    "val_accuracy",
    "wall_time_s",
    "node",
)
_REQUIRED = ("study", "phase", "method", "optimizer", "trial_key", "seed", "status")  # TrialRow's identity
PARTS_SUFFIX = ".parts"  # trials.parquet -> trials.parts/ (folder.TABLE_PARTS_DIR)
_PART = re.compile(r"^(\d{9})\.parquet$")  # a part's name: its row's position in the table; temporaries differ


class TableWriteError(OSError):
    """The trials table could not be written (a full disk, an unwritable folder); the files on disk still hold
    the table as it was before the append. The OS error is the ``__cause__``."""


class TrialsTable:
    """The rows of one study, kept in memory; each append writes one part, ``compact`` folds them into the table."""

    def __init__(self, path: str | Path, study: str | None = None) -> None:
        self.path = Path(path)
        self._rows: list[TrialRow] = read_rows(self.path, study) if table_exists(self.path) else []
        self._keys = {r.trial_key for r in self._rows}
        # Past every part on disk: a part left by a crash mid-compaction is never overwritten.
        self._next = max([len(self._rows)] + [number + 1 for number, _ in _parts(self.path)])

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[TrialRow]:
        return list(self._rows)

    def keys(self) -> set[str]:
        return set(self._keys)

    def append(self, row: TrialRow) -> None:
        """Record ``row`` as one new part: O(1) in the rows already recorded."""
        if row.trial_key in self._keys:
            raise ValueError(f"trial {row.trial_key!r} is already in {self.path}")
        try:
            _write_part(row, part_path(self.path, self._next))
        except OSError as error:
            raise TableWriteError(
                f"cannot write the trials table {self.path}: {error}; it is left as it was, with the "
                f"{len(self._rows)} trial(s) recorded before"
            ) from error
        self._rows.append(row)
        self._keys.add(row.trial_key)
        self._next += 1

    def compact(self) -> None:
        """Every row into ``trials.parquet`` (atomically), then the parts deleted. A crash between the two leaves
        parts whose rows the table already holds; readers take each trial once. Nothing to do without parts."""
        parts = _parts(self.path)
        if not parts:
            return
        try:
            write_rows(self._rows, self.path)
        except OSError as error:
            raise TableWriteError(
                f"cannot compact the trials table {self.path}: {error}; its {len(self._rows)} trial(s) stay "
                f"recorded in {parts_folder(self.path)}"
            ) from error
        folder = parts_folder(self.path)
        for _, part in parts:  # one left behind is a duplicate of a compacted row: readers skip it
            with contextlib.suppress(OSError):
                part.unlink()
        for stale in folder.glob(".*.tmp"):  # a write a crash interrupted: never renamed, never a part
            with contextlib.suppress(OSError):
                stale.unlink()
        with contextlib.suppress(OSError):  # a stranger's file in it keeps the folder; the table is whole anyway
            folder.rmdir()


def parts_folder(path: str | Path) -> Path:
    """Where the parts of the table at ``path`` are: ``trials.parts/`` beside ``trials.parquet``."""
    path = Path(path)
    return path.with_name(path.stem + PARTS_SUFFIX)


def part_path(path: str | Path, number: int) -> Path:
    """The part that holds row ``number`` (0-based) of the table at ``path``."""
    return parts_folder(path) / f"{number:09d}.parquet"


def table_exists(path: str | Path) -> bool:
    """Whether any row of the table at ``path`` is on disk: the compacted file or a part."""
    return Path(path).is_file() or bool(_parts(Path(path)))


def _parts(path: Path) -> list[tuple[int, Path]]:
    """The parts on disk, in the order they were appended (temporary files are not parts)."""
    folder = parts_folder(path)
    if not folder.is_dir():
        return []
    found = ((_PART.match(p.name), p) for p in folder.iterdir())
    return sorted((int(match.group(1)), p) for match, p in found if match)


def read_rows(path: str | Path, study: str | None = None) -> list[TrialRow]:
    """The rows of the trials table at ``path`` (the compacted file and its parts), each trial once.
    ``StudyFolderError`` for a missing or damaged file, a file that is not a trials table, or (with ``study``) the
    table of another study, whose rows would be taken for this one's."""
    path = Path(path)
    for _ in range(3):
        try:
            return _read_all(path, study)
        except _Compacted:  # a part went between listing and reading it: its row is in the compacted file now
            continue
    return _read_all(path, study)


class _Compacted(Exception):
    """A part was deleted while it was read: the writer compacted the table meanwhile."""


def _read_all(path: Path, study: str | None) -> list[TrialRow]:
    parts = _parts(path)  # listed before the compacted file is read: a part missing later is in that file
    if not path.is_file() and not parts:
        raise StudyFolderError(f"{path}: no such trials table")
    records = _read_file(path, study) if path.is_file() else []
    for _, part in parts:
        try:
            records += _read_part(part, study)
        except FileNotFoundError:
            raise _Compacted from None
    seen: set[str] = set()
    rows = []
    for record in records:
        row = TrialRow.from_record(record)
        if row.trial_key not in seen:  # a part whose row compaction already wrote: the first is the one kept
            seen.add(row.trial_key)
            rows.append(row)
    # Read as one table, the rows' values are what one file of them all gives (an integer hyperparameter that
    # some rows lack is a float column there), as when every append rewrote the whole file.
    return _as_one_table(rows) if parts else rows


def _read_file(path: Path, study: str | None) -> list[dict[str, Any]]:
    """The compacted file's records, through pandas as they were always read."""
    frame = _read_parquet(path).to_pandas()
    _check(path, set(frame.columns), set(frame["study"].unique()) if "study" in frame else set(), study)
    return frame.to_dict("records")


def _read_part(path: Path, study: str | None) -> list[dict[str, Any]]:
    """A part's row as Python values (pandas costs more than the read for one row; ``_as_one_table`` gives
    every part's values the types one file of all the rows would)."""
    records = _read_parquet(path).to_pylist()
    _check(path, {c for r in records for c in r}, {r.get("study") for r in records if "study" in r}, study)
    return records


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except FileNotFoundError:  # a part that compaction deleted meanwhile: the reader reads the table again
        raise
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise StudyFolderError(f"{path}: cannot be read as Parquet ({error}); it is damaged") from None


def _check(path: Path, columns: set[str], studies: set[Any], study: str | None) -> None:
    # Another study's table is named as such first, whatever else it lacks: that is the mistake to fix.
    foreign = sorted({str(n) for n in studies} - {study}) if study else []
    if foreign:
        raise StudyFolderError(
            f"{path}: a trials table of study {', '.join(repr(n) for n in foreign)}, not of {study!r}; "
            f"give the table that study {study!r} wrote"
        )
    missing = set(_REQUIRED) - columns
    if missing:
        raise StudyFolderError(f"{path}: not a trials table, it lacks the column(s) {', '.join(sorted(missing))}")


def _as_one_table(rows: list[TrialRow]) -> list[TrialRow]:
    records = _arrow(rows).to_pandas().to_dict("records")
    return [TrialRow.from_record(record) for record in records]


def _arrow(rows: list[TrialRow]) -> pa.Table:
    frame = pd.DataFrame([row.to_record() for row in rows])
    return pa.Table.from_pandas(frame[_ordered(frame.columns)], preserve_index=False)


def _write_part(row: TrialRow, path: Path) -> None:
    """One row as its own file, built without pandas (a frame of one row costs more than the write); its
    columns are what a frame would give, and readers read every part through one frame anyway."""
    record = row.to_record()
    table = pa.Table.from_pylist([{name: record[name] for name in _ordered(record)}])
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda tmp: pq.write_table(table, tmp))


def _ordered(columns: Iterable[str]) -> list[str]:
    names = set(columns)
    return [c for c in LEADING_COLUMNS if c in names] + sorted(names - set(LEADING_COLUMNS))


def write_rows(rows: list[TrialRow], path: Path) -> None:
    """``rows`` as one whole Parquet file at ``path`` (atomically)."""
    table = _arrow(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda tmp: pq.write_table(table, tmp))


def read_frame(path: str | Path) -> pd.DataFrame:
    """The table at ``path`` (compacted file and parts, each trial once) as one frame, as ``trials.parquet``
    holds it once compacted: for tests and notebooks that look at a study while it runs."""
    return _arrow(read_rows(path)).to_pandas()


def whole_file(path: str | Path, scratch: Path) -> Path:
    """The table at ``path`` as one Parquet file: ``path`` itself once compacted, else every row written to
    ``scratch`` under the same name (a study stopped before its end still has parts; MLflow gets one file)."""
    path = Path(path)
    if not _parts(path):
        return path
    copy = scratch / path.name
    write_rows(read_rows(path), copy)
    return copy


def write_columns(path: Path, columns: dict[str, Any]) -> None:
    """Equal-length 1-D arrays (numpy or lists) as one Parquet file at ``path``, atomically: a reader finds the
    whole file or none (the per-example outcomes of a trial, ``pipeline.results.outcomes``)."""
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda tmp: pq.write_table(table, tmp))


def read_columns(path: Path) -> dict[str, Any]:
    """A file of ``write_columns`` as numpy arrays by column name."""
    table = _read_parquet(path)
    return {name: table.column(name).to_numpy() for name in table.column_names}
