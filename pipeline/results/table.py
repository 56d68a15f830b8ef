"""The trials table: ``OUT/<study>/trials.parquet``, the only module that writes Parquet.

One row per finished trial of either phase, appended as each trial finishes. Parquet cannot be
appended in place, so every append rewrites the table to a temporary file and renames it over the
old one: a crash or a full disk leaves the previous table whole, never a truncated one.

Schema (column: meaning). Identity: ``study``, ``phase`` (tune | eval), ``method`` (the study's label),
``optimizer`` (registry name), ``trial_key`` (unique within the study), ``search`` (tuning repeat),
``trial_index`` (order within that search), ``seed``. Outcome: ``status`` (ok | diverged | failed),
``error``, ``stopped_by_scheduler`` (ASHA ended it early). Configuration: ``rho`` (the fixed, tuned
or LETS starting radius), ``lr``, ``momentum``, ``weight_decay``, ``nesterov``, ``base``,
``batch_size``, ``epochs``, ``schedule``, ``hp.<name>`` for every optimizer hyperparameter set,
``params_json`` (the searched values), ``config_json`` (the whole TrialConfig). Metrics: every scalar of ``TrialResult`` (``test_accuracy``,
``val_accuracy``, ``test_loss``, ``val_loss``, ``train_loss``, ``final_test_accuracy``,
``final_val_accuracy``, ``shifted_test_accuracy``, ``shifted_test_loss``, ``best_epoch``,
``epochs_run``, ``wall_time_s``, ``train_time_s``, ``passes_per_step``, ``steps_per_epoch``,
``samples_per_second``, ``peak_memory_mb``, ``resumed_at_epoch``), ``seconds_per_epoch``, ``final_rho`` and
``rho_trajectory`` (LETS), ``history_json`` (per-epoch records). Provenance: ``node``, ``device``,
``git_commit``, ``code_digest``, ``version.<library>``, ``mlflow_run_id``, ``finished_at`` (UTC).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TABLE_NAME = "trials.parquet"

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


class TableWriteError(OSError):
    """The trials table could not be rewritten (a full disk, an unwritable folder); the file on disk is
    still the table as it was before the append. The OS error is the ``__cause__``."""


class TrialsTable:
    """The rows of one study, kept in memory and rewritten atomically on every append."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rows: list[dict[str, Any]] = read_table(self.path).to_dict("records") if self.path.exists() else []

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows]

    def keys(self) -> set[str]:
        return {r["trial_key"] for r in self._rows}

    def append(self, row: dict[str, Any]) -> None:
        if row["trial_key"] in self.keys():
            raise ValueError(f"trial {row['trial_key']!r} is already in {self.path}")
        self._rows.append(dict(row))
        try:
            _write_atomically(self._rows, self.path)
        except OSError as error:
            self._rows.pop()
            raise TableWriteError(
                f"cannot write the trials table {self.path}: {error}; it is left as it was, with the "
                f"{len(self._rows)} trial(s) recorded before"
            ) from error
        except BaseException:
            self._rows.pop()
            raise


def read_table(path: str | Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _ordered_columns(frame: pd.DataFrame) -> list[str]:
    lead = [c for c in LEADING_COLUMNS if c in frame.columns]
    return lead + sorted(c for c in frame.columns if c not in LEADING_COLUMNS)


def _write_atomically(rows: list[dict[str, Any]], path: Path) -> None:
    frame = pd.DataFrame(rows)
    frame = frame[_ordered_columns(frame)]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Cleanup only: its own failure (tmp is a directory, say) must not hide the write's error.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
