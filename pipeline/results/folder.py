"""The study folder, ``OUT/<study>``: the name of every file in it, and its MLflow record (``mlflow.json``).

``OUT/`` itself holds the embedded MLflow store (``mlflow.db``), its artifacts (``mlartifacts/``) and Ray's run
folders (``ray/``); each study writes only inside its own folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline._io import write_json_atomically

SPEC_FILE = "spec.json"  # the resolved spec, written when the study starts
CODE_FILE = "code.json"  # a digest of each file of the study's own code (data and model factories), if any
TABLE_FILE = "trials.parquet"  # one row per finished trial (compacted when the study ends)
TABLE_PARTS_DIR = "trials.parts"  # one Parquet file per trial recorded since the table was last compacted
SELECTION_FILE = "selection.json"  # each method's configuration for the evaluation phase
TRACKING_FILE = "mlflow.json"  # where the study's MLflow parent run is
REPORT_FILE = "report.md"
STATS_FILE = "stats.json"
DECISIONS_FILE = "decisions.json"  # a sequential study's decisions, per method and look
FIGURES_DIR = "figures"
OUTCOMES_DIR = "outcomes"  # each evaluation trial's prediction for every test example, one file per trial
CHECKPOINTS_DIR = "checkpoints"  # trials' epoch checkpoints, removed once the study is complete
TRAIN_RUNS_DIR = "ray-train"  # Ray Train's own run folders of data-parallel trials
LOG_FILE = "study.log"  # Ray's, MLflow's and Optuna's own output on the driver (appended to by each run)

# In OUT/, shared by the studies written there.
MLFLOW_STORE = "mlflow.db"
MLFLOW_ARTIFACTS_DIR = "mlartifacts"
RAY_RUNS_DIR = "ray"


@dataclass(frozen=True)
class StudyFolder:
    """The paths of one study folder (nothing is created by naming them)."""

    path: Path

    @property
    def spec(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def code(self) -> Path:
        return self.path / CODE_FILE

    @property
    def table(self) -> Path:
        return self.path / TABLE_FILE

    @property
    def table_parts(self) -> Path:
        return self.path / TABLE_PARTS_DIR

    @property
    def outcomes(self) -> Path:
        return self.path / OUTCOMES_DIR

    @property
    def selection(self) -> Path:
        return self.path / SELECTION_FILE

    @property
    def tracking(self) -> Path:
        return self.path / TRACKING_FILE

    @property
    def report(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def stats(self) -> Path:
        return self.path / STATS_FILE

    @property
    def decisions(self) -> Path:
        return self.path / DECISIONS_FILE

    @property
    def figures(self) -> Path:
        return self.path / FIGURES_DIR

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def train_runs(self) -> Path:
        return self.path / TRAIN_RUNS_DIR

    @property
    def log(self) -> Path:
        return self.path / LOG_FILE


@dataclass(frozen=True)
class TrackingRecord:
    """Where a study's MLflow parent run is, as ``sam-study run`` recorded it. ``tracking_uri`` never holds a
    password; ``credentials_from`` names the environment variables that held it (never their values)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    credentials_from: tuple[str, ...] = ()


def record_tracking(study_dir: Path, record: TrackingRecord) -> None:
    payload = {
        "tracking_uri": record.tracking_uri,
        "experiment_id": record.experiment_id,
        "parent_run_id": record.parent_run_id,
    }
    if record.credentials_from:
        payload["credentials_from"] = ", ".join(record.credentials_from)
    write_json_atomically(StudyFolder(study_dir).tracking, payload)


def recorded_tracking(study_dir: Path) -> TrackingRecord | None:
    """The record of ``mlflow.json``, or None when the folder has none (or an unreadable one)."""
    path = StudyFolder(study_dir).tracking
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(raw, dict) or not {"tracking_uri", "parent_run_id"} <= set(raw):
        return None
    names: Sequence[str] = [n for n in str(raw.get("credentials_from", "")).split(", ") if n]
    return TrackingRecord(raw["tracking_uri"], str(raw.get("experiment_id", "")), raw["parent_run_id"], tuple(names))
