"""A user's own task through `sam-study run`, on a real embedded Ray and MLflow: the example study of
studies/examples, copied into a folder outside the project, with its data and model factories in a module beside the
study file, and a SAM-family rule of the user's own. Ray ships that folder to the trial workers; every method (the
user's rule, and LETS over it, among them) runs on the user's data and model; a resume after the module changed is
refused, naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.study.study_files import run_to_end

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


def test_a_study_of_a_users_own_data_and_model_runs_and_refuses_a_resume_with_changed_code(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("own_task.yaml", "blobs_task.py", "sign_sam.py"):
        shutil.copy(EXAMPLES / name, elsewhere / name)
    study, out = elsewhere / "own_task.yaml", tmp_path / "out"

    done = run_to_end("run", str(study), "--out", str(out), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_parquet(out / "own_task" / "trials.parquet")
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
    evaluation = table[table.phase == "eval"]
    assert sorted(zip(evaluation.method, evaluation.seed, strict=True)) == [
        (m, s) for m in ("lets-signsam", "sam", "sgd", "signsam") for s in (0, 1)
    ]
    assert len(table[table.phase == "tune"]) == 3
    config = json.loads(table.config_json.iloc[0])
    assert config["data"]["factory"] == "blobs_task:make_blobs" and config["model"]["args"] == {"width": 24}
    assert evaluation.test_accuracy.between(0.5, 1.0).all(), "the user's blobs are learnable"
    lets = evaluation[evaluation.method == "lets-signsam"]
    assert lets.rho_trajectory.map(len).gt(0).all(), "LETS learned the radius of the user's rule"
    assert (evaluation[evaluation.method == "signsam"].optimizer == "signsam").all()
    report = (out / "own_task" / "report.md").read_text()
    assert "| lets-signsam |" in report and "| signsam |" in report and "**sam** (reference)" in report
    code = json.loads((out / "own_task" / "code.json").read_text())
    assert sorted(code) == [str(elsewhere.resolve() / name) for name in ("blobs_task.py", "sign_sam.py")]
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["own_task"])
    assert sorted(runs[runs["tags.role"] == "trial"]["tags.trial_key"]) == sorted(table.trial_key)

    module = elsewhere / "blobs_task.py"
    module.write_text(module.read_text().replace("spread: float = 1.0", "spread: float = 3.0"))
    again = run_to_end("run", str(study), "--out", str(out), timeout=300)
    assert again.returncode == 2, again.stdout + again.stderr
    assert f"{module.resolve()} changed since the study started" in again.stderr
    assert "--code-changed" in again.stderr
    assert len(pd.read_parquet(out / "own_task" / "trials.parquet")) == len(table)
