"""A trials-table row: the one place the table's schema is written.

``trials.parquet`` holds one row per finished trial, of either phase. In memory a row is a frozen ``TrialRow``
with typed fields; on disk it is one column per field, except two families that flatten a dict: ``hp.<name>``
(every optimizer hyperparameter the trial ran with, from ``hparams``) and ``version.<library>`` (the library
versions behind it, from ``versions``). ``to_record`` and ``from_record`` are the only translation between the
two; ``from_record`` is the one normalisation of what Parquet and pandas hand back (NaN and None for a missing
value, floats for integers in a column with gaps, numpy scalars and arrays).

A row of a trial that did not run to its end (failed, or stopped by the scheduler) has None for what it never
measured: its metrics are the last epoch it reported, and ``wall_time_s`` is Ray's clock of the trial.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Phase = Literal["tune", "eval"]
Status = Literal["ok", "diverged", "failed"]

HPARAM_PREFIX = "hp."
VERSION_PREFIX = "version."


@dataclass(frozen=True)
class TrialRow:
    # Identity.
    study: str
    phase: Phase
    method: str  # the study's label for the method
    optimizer: str  # its registry name
    trial_key: str  # unique within the study: tune/<method>/search<s>/trial<i> or eval/<method>/seed<n>
    seed: int
    search: int | None = None  # tuning phase: the search (repeat) it belongs to
    trial_index: int | None = None  # tuning phase: its order within that search
    round: int | None = None  # evaluation with sequential seeds: the round (0-based) that first ran its seed
    # Outcome.
    status: Status = "ok"
    error: str | None = None  # a failed trial's last error line
    traceback: str | None = None  # and its whole error text (the traceback from the trial's worker)
    stopped_by_scheduler: bool = False  # ASHA ended it early (its status is ok)
    # Configuration.
    rho: float | None = None  # the fixed, tuned or LETS starting radius
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    nesterov: bool | None = None
    base: str | None = None  # the base optimizer: sgd or adamw
    batch_size: int | None = None
    epochs: int | None = None
    schedule: str | None = None
    precision: str | None = None  # auto, fp32, bf16 or fp16
    clip_grad_norm: float | None = None  # the bound on the applied gradient's norm (None: no clipping)
    accumulate: int | None = None  # micro-batches per step
    hparams: dict[str, Any] = field(default_factory=dict)  # columns hp.<name>: every optimizer hyperparameter
    params_json: str = "{}"  # the searched values (tuning phase), as JSON
    config_json: str = "{}"  # the whole TrialConfig, as JSON
    # Metrics: the TrialResult's scalars (the selected epoch's, unless named final_).
    test_accuracy: float | None = None
    test_loss: float | None = None
    val_accuracy: float | None = None
    val_loss: float | None = None
    train_loss: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    final_test_accuracy: float | None = None
    final_val_accuracy: float | None = None
    shifted_test_accuracy: float | None = None
    shifted_test_loss: float | None = None
    wall_time_s: float | None = None
    train_time_s: float | None = None
    passes_per_step: float | None = None
    steps_per_epoch: int | None = None
    samples_per_second: float | None = None
    peak_memory_mb: float | None = None
    resumed_at_epoch: int | None = None  # a restarted trial: the epochs its checkpoint held
    skipped_steps: int | None = None  # fp16: steps skipped for non-finite gradients
    seconds_per_epoch: float | None = None
    final_rho: float | None = None  # LETS: the radius at the end
    rho_trajectory: tuple[float, ...] | None = None  # LETS: the radius after every update
    history_json: str | None = None  # the per-epoch records, as JSON
    # Provenance.
    node: str | None = None  # host/IP/Ray node id the trial ran on
    device: str | None = None
    git_commit: str | None = None
    code_digest: str | None = None
    versions: dict[str, str] = field(default_factory=dict)  # columns version.<library>
    mlflow_run_id: str | None = None
    finished_at: str | None = None  # UTC, ISO 8601

    @property
    def params(self) -> dict[str, Any]:
        """The searched values this trial ran with (empty outside the tuning phase)."""
        return json.loads(self.params_json)

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.config_json)

    @property
    def history(self) -> list[dict[str, Any]]:
        """The per-epoch records; empty when the trial did not run to its end."""
        return json.loads(self.history_json) if self.history_json else []

    def to_record(self) -> dict[str, Any]:
        """The row as table columns (``hp.<name>``, ``version.<library>`` flattened; lists and dicts in a
        hyperparameter as JSON text, since a Parquet column holds one type)."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("hparams", "versions")}
        record["rho_trajectory"] = list(self.rho_trajectory) if self.rho_trajectory is not None else None
        record.update({HPARAM_PREFIX + k: _cell(v) for k, v in sorted(self.hparams.items())})
        record.update({VERSION_PREFIX + k: v for k, v in sorted(self.versions.items())})
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrialRow:
        """A row from table columns; a column the schema does not name is ignored, a missing one is None."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in record:
                values[f.name] = _normalise(record[f.name], _FIELD_KINDS[f.name])
        values["hparams"] = _family(record, HPARAM_PREFIX)
        values["versions"] = {k: str(v) for k, v in _family(record, VERSION_PREFIX).items()}
        return cls(**values)

    def replace(self, **changes: Any) -> TrialRow:
        return dataclasses.replace(self, **changes)


def columns() -> list[str]:
    """The table's columns, in the schema's order; the two families are written as ``hp.<name>`` and
    ``version.<library>``."""
    names = []
    for f in fields(TrialRow):
        if f.name == "hparams":
            names.append(f"{HPARAM_PREFIX}<name>")
        elif f.name == "versions":
            names.append(f"{VERSION_PREFIX}<library>")
        else:
            names.append(f.name)
    return names


def _kind(annotation: str) -> str:
    for kind in ("int", "float", "bool", "tuple"):
        if annotation.startswith(kind) or annotation.startswith(f"{kind} |"):
            return kind
    return "str" if annotation.startswith(("str", "Phase", "Status")) else "any"


_FIELD_KINDS = {f.name: _kind(str(f.type)) for f in fields(TrialRow)}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _normalise(value: Any, kind: str) -> Any:
    value = _plain(value)
    if not isinstance(value, (list, tuple)) and _missing(value):
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        number = float(value)
        return number if math.isfinite(number) else None
    if kind == "bool":
        return bool(value)
    if kind == "tuple":
        return tuple(float(v) for v in value)
    return value


def _family(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    family = {}
    for key, value in record.items():
        if not key.startswith(prefix):
            continue
        value = _plain(value)
        if isinstance(value, (list, tuple)) or not _missing(value):
            family[key.removeprefix(prefix)] = value
    return family


def _cell(value: Any) -> Any:
    """A hyperparameter as a Parquet cell: scalars as they are, anything else as JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)
