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


FLAKY_TASK = """\
from blobs_task import make_blobs


def blobs_but_not_seed_1(seed, **args):
    if seed == 1:
        raise RuntimeError("no blobs for seed 1")
    return make_blobs(seed, **args)
"""
FLAKY_STUDY = """\
name: flaky
data: {factory: "flaky_task:blobs_but_not_seed_1", args: {n: 300}}
model: {factory: "blobs_task:make_net", args: {width: 16}}
training: {lr: 0.05, epochs: 2, batch_size: 32}
methods:
  - name: sgd
  - name: sam
    hparams: {rho: 0.05}
reference: sam
evaluation: {seeds: [0, 1]}
resources: {cpu: 1}
retries: 0
"""


def test_a_users_factory_that_raises_inside_a_trial_fails_that_trial_with_its_traceback(tmp_path: Path) -> None:
    # The door builds the data with seed 0, which works; the trials of seed 1 raise in the user's code.
    shutil.copy(EXAMPLES / "blobs_task.py", tmp_path / "blobs_task.py")
    (tmp_path / "flaky_task.py").write_text(FLAKY_TASK)
    study, out = tmp_path / "flaky.yaml", tmp_path / "out"
    study.write_text(FLAKY_STUDY)
    done = run_to_end("run", str(study), "--out", str(out), timeout=600)
    table = pd.read_parquet(out / "flaky" / "trials.parquet").set_index("trial_key")
    assert sorted(table.index) == ["eval/sam/seed0", "eval/sam/seed1", "eval/sgd/seed0", "eval/sgd/seed1"], done.stderr
    for key in ("eval/sam/seed1", "eval/sgd/seed1"):
        row = table.loc[key]
        assert row.status == "failed" and row.error == "RuntimeError: no blobs for seed 1", row.traceback
        assert 'flaky_task.py", line 6, in blobs_but_not_seed_1' in row.traceback, row.traceback
        assert "\x1b[" not in row.traceback, "no colour codes"
    assert (table.loc[["eval/sam/seed0", "eval/sgd/seed0"]].status == "ok").all()
    assert done.returncode == 0, done.stdout + done.stderr  # the study goes on, as for any failed trial
    assert "sgd seed 1 val - test - failed: RuntimeError: no blobs for seed 1" in done.stdout, done.stdout
    log = (out / "flaky" / "study.log").read_text()
    assert "trial eval/sgd/seed1 failed:\n" in log and 'flaky_task.py", line 6, in blobs_but_not_seed_1' in log
    assert (out / "flaky" / "report.md").exists(), done.stdout + done.stderr
