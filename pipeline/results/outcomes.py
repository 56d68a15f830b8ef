"""Per-example outcomes: an evaluation trial's predicted class for every example of the test set (and of the shifted
test set, when the study has one), one Parquet file per trial in ``OUT/<study>/outcomes/``, named by its trial key.

The trial's chief process writes its file atomically when the trial ends, before it reports its result: a trial in
the trials table has its file, and a trial killed before it was recorded runs again on resume and writes its file
again under the same name (never two files of one trial). Columns: ``split`` (``test`` or ``shifted_test``),
``example`` (the example's index in that split), ``prediction`` and ``label`` (class indices). Tuning trials write
none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.results.errors import StudyFolderError
from pipeline.results.table import read_columns, write_columns

SPLITS = ("test", "shifted_test")


def outcome_path(folder: str | Path, key: str) -> Path:
    """The file of trial ``key`` in ``folder`` (a study's ``outcomes`` folder); a key's slashes become ``__``."""
    return Path(folder) / f"{key.replace('/', '__')}.parquet"


@dataclass(frozen=True)
class Outcomes:
    """One trial's predictions and the true labels, by split."""

    key: str
    predictions: Mapping[str, np.ndarray]
    labels: Mapping[str, np.ndarray]

    def correct(self, split: str = "test") -> np.ndarray:
        """1.0 where the prediction is the label, else 0.0, in the split's example order."""
        return (self.predictions[split] == self.labels[split]).astype(np.float64)


def write_outcomes(folder: str | Path, key: str, splits: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """Trial ``key``'s ``(predictions, labels)`` of each split as its file in ``folder``, atomically."""
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"per-example outcomes are kept for the splits {SPLITS}, got {sorted(unknown)}")
    names, examples, predictions, labels = [], [], [], []
    for name, (predicted, truth) in splits.items():
        predicted, truth = np.asarray(predicted), np.asarray(truth)
        if predicted.shape != truth.shape or predicted.ndim != 1:
            raise ValueError(f"{name}: predictions {predicted.shape} and labels {truth.shape} must be equal 1-D")
        names += [name] * len(predicted)
        examples.append(np.arange(len(predicted), dtype=np.int32))
        predictions.append(predicted.astype(np.int32))
        labels.append(truth.astype(np.int32))
    path = outcome_path(folder, key)
    columns = {"split": names, "example": np.concatenate(examples), "prediction": np.concatenate(predictions)}
    write_columns(path, columns | {"label": np.concatenate(labels)})
    return path


def read_outcomes(folder: str | Path, key: str) -> Outcomes | None:
    """Trial ``key``'s outcomes from ``folder``; None when it wrote none."""
    path = outcome_path(folder, key)
    if not path.exists():
        return None
    columns = read_columns(path)
    split = columns["split"].astype(str)
    predictions, labels = {}, {}
    for name in SPLITS:
        rows = split == name
        if rows.any():
            order = np.argsort(columns["example"][rows], kind="stable")
            predictions[name] = columns["prediction"][rows][order]
            labels[name] = columns["label"][rows][order]
    return Outcomes(key, predictions, labels)


def correctness(folder: str | Path, keys: Sequence[str], split: str = "test") -> np.ndarray:
    """The ``(len(keys), n_examples)`` matrix of 1.0/0.0 correctness of the trials ``keys`` on ``split``, row by
    row in the order given (paired seeds of two methods in the same order make two matrices to subtract)."""
    rows = []
    for key in keys:
        outcomes = read_outcomes(folder, key)
        if outcomes is None or split not in outcomes.predictions:
            raise StudyFolderError(f"{outcome_path(folder, key)}: no per-example outcomes of {key} on {split}")
        rows.append(outcomes.correct(split))
    if len({len(row) for row in rows}) > 1:
        raise StudyFolderError(f"{folder}: the trials {list(keys)} were scored on {split} sets of different sizes")
    return np.stack(rows) if rows else np.zeros((0, 0))
