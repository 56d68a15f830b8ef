"""A study folder written by the version before the trials table was recorded in parts (its trials.parquet one
file, rewritten at each trial; tests/study/fixtures/old_tiny_folder: the tiny study, interrupted with Ctrl-C after
3 of its 8 trials) resumes with today's code: the 3 recorded trials are kept as they are and not run again, the
other 5 run, and the study ends with one compacted table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.results.table import parts_folder
from tests.study.study_files import expected_keys, run_to_end

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parent / "fixtures" / "old_tiny_folder"


def test_a_folder_from_before_the_parts_resumes(tmp_path: Path) -> None:
    study = tmp_path / "tiny.yaml"
    shutil.copy(FIXTURE / "tiny.yaml", study)
    folder = tmp_path / "out" / "tiny"
    folder.mkdir(parents=True)
    for name in ("spec.json", "mlflow.json", "trials.parquet"):
        shutil.copy(FIXTURE / name, folder / name)
    before = pd.read_parquet(FIXTURE / "trials.parquet")
    assert len(before) == 3

    done = run_to_end("run", str(study), "--out", str(tmp_path / "out"), timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming: 3 trial(s) done" in done.stdout
    assert "5 trial(s) to run" in done.stdout

    table = pd.read_parquet(folder / "trials.parquet")
    assert table.trial_key.is_unique and set(table.trial_key) == expected_keys(4)
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
    assert not parts_folder(folder / "trials.parquet").exists()
    kept = table.set_index("trial_key").loc[before.trial_key]
    for column in ("test_accuracy", "val_accuracy", "rho", "history_json", "finished_at", "mlflow_run_id"):
        assert list(kept[column].fillna(-1)) == list(before.set_index("trial_key")[column].fillna(-1)), column
    assert (folder / "report.md").exists()
