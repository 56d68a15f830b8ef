"""The trials table, ``OUT/<study>/trials.parquet``: the only module that reads or writes Parquet.

One row per finished trial of either phase (``TrialRow``, whose module holds the schema), appended as each
trial finishes. Parquet cannot be appended in place, so every append rewrites the table to a temporary file
and renames it over the old one: a crash or a full disk leaves the previous table whole, never a truncated one.
"""

from __future__ import annotations

from pathlib import Path

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


class TableWriteError(OSError):
    """The trials table could not be rewritten (a full disk, an unwritable folder); the file on disk is
    still the table as it was before the append. The OS error is the ``__cause__``."""


class TrialsTable:
    """The rows of one study, kept in memory and rewritten atomically on every append."""

    def __init__(self, path: str | Path, study: str | None = None) -> None:
        self.path = Path(path)
        self._rows: list[TrialRow] = read_rows(self.path, study) if self.path.exists() else []

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[TrialRow]:
        return list(self._rows)

    def keys(self) -> set[str]:
        return {r.trial_key for r in self._rows}

    def append(self, row: TrialRow) -> None:
        if row.trial_key in self.keys():
            raise ValueError(f"trial {row.trial_key!r} is already in {self.path}")
        self._rows.append(row)
        try:
            write_rows(self._rows, self.path)
        except OSError as error:
            self._rows.pop()
            raise TableWriteError(
                f"cannot write the trials table {self.path}: {error}; it is left as it was, with the "
                f"{len(self._rows)} trial(s) recorded before"
            ) from error
        except BaseException:
            self._rows.pop()
            raise


def read_rows(path: str | Path, study: str | None = None) -> list[TrialRow]:
    """The rows of the trials table at ``path``. ``StudyFolderError`` for a missing or damaged file, a file that is
    not a trials table, or (with ``study``) the table of another study, whose rows would be taken for this one's."""
    path = Path(path)
    if not path.is_file():
        raise StudyFolderError(f"{path}: no such trials table")
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise StudyFolderError(f"{path}: cannot be read as Parquet ({error}); it is damaged") from None
    # Another study's table is named as such first, whatever else it lacks: that is the mistake to fix.
    foreign = sorted({str(n) for n in frame["study"].unique()} - {study}) if study and "study" in frame else []
    if foreign:
        raise StudyFolderError(
            f"{path}: a trials table of study {', '.join(repr(n) for n in foreign)}, not of {study!r}; "
            f"give the table that study {study!r} wrote"
        )
    missing = set(_REQUIRED) - set(frame.columns)
    if missing:
        raise StudyFolderError(f"{path}: not a trials table, it lacks the column(s) {', '.join(sorted(missing))}")
    return [TrialRow.from_record(record) for record in frame.to_dict("records")]


def write_rows(rows: list[TrialRow], path: Path) -> None:
    frame = pd.DataFrame([row.to_record() for row in rows])
    lead = [c for c in LEADING_COLUMNS if c in frame.columns]
    frame = frame[lead + sorted(c for c in frame.columns if c not in LEADING_COLUMNS)]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda tmp: pq.write_table(table, tmp))
