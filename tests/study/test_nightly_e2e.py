"""`sam-study nightly` end to end on a real local Ray and an embedded MLflow store: the first night is
accepted as the baseline, an unchanged night passes and reproduces it exactly, a night where one method is
made worse by a configuration change fails with exit 5, and a baseline that no longer matches a run that
should reproduce it exactly is reported with the first differing metric."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from tests.study.study_files import run_to_end

pytestmark = pytest.mark.slow

NIGHTLY = """\
name: tinynightly
data:
  name: synthetic
  synthetic: {{n_samples: 400}}
model: {{name: mlp, hidden: [32]}}
training: {{lr: 0.05, epochs: 3, batch_size: 32}}
methods:
  - name: sgd
  - name: sam
    hparams: {{rho: 0.05}}
{sam_lr}reference: sam
evaluation: {{seeds: [0, 1, 2, 3]}}
regression: {{margin: 0.02}}
resources: {{cpu: 1}}
retries: 0
"""
SEEDS = 4


def write_nightly(folder: Path, sam_lr: float | None = None) -> Path:
    path = folder / ("nightly.yaml" if sam_lr is None else "nightly-worse.yaml")
    path.write_text(NIGHTLY.format(sam_lr="" if sam_lr is None else f"    lr: {sam_lr}\n"))
    return path


def nights(out: Path) -> list[Path]:
    return sorted(p for p in (out / "tinynightly").iterdir() if p.is_dir())


def nightly(study: Path, out: Path, *extra: str) -> tuple[int, str, dict | None]:
    before = set(nights(out)) if (out / "tinynightly").exists() else set()
    done = run_to_end("nightly", str(study), "--out", str(out), *extra, timeout=400)
    new = sorted(set(nights(out)) - before) if (out / "tinynightly").exists() else []
    decision = json.loads((new[-1] / "regression.json").read_text()) if new else None
    return done.returncode, done.stdout + done.stderr, decision


def test_nightly_accepts_passes_flags_a_regression_and_a_determinism_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    study = write_nightly(tmp_path)

    # No baseline yet, and no --accept: refused before anything runs.
    assert main(["nightly", str(study), "--out", str(out)]) == 2
    log = capsys.readouterr().err
    assert "no accepted nightly baseline of study 'tinynightly'" in log and "--accept" in log
    assert not (out / "tinynightly").exists()

    rc, log, first = nightly(study, out, "--accept")
    assert rc == 0, log
    assert first["verdict"] == "no-baseline" and first["accepted"] is True

    # Unchanged: no regression, and every run reproduces the baseline bit for bit.
    rc, log, same = nightly(study, out)
    assert rc == 0, log
    assert same["verdict"] == "pass" and same["regressed"] == []
    assert same["baseline"]["mlflow_run_id"] == first["run"]["mlflow_run_id"]
    assert same["determinism"] == {"checked": 2 * SEEDS, "mismatches": [], "skipped": {}}
    assert {m["method"]: m["change"] for m in same["methods"]} == {"sgd": 0.0, "sam": 0.0}
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    run = client.get_run(same["run"]["mlflow_run_id"])
    assert run.data.tags["nightly_verdict"] == "pass" and "nightly_accepted" not in run.data.tags
    assert {a.path for a in client.list_artifacts(run.info.run_id, "regression")} == {
        "regression/regression.json",
        "regression/regression.md",
    }

    # SAM at a learning rate 500 times smaller: far worse than its baseline; SGD is untouched.
    rc, log, worse = nightly(write_nightly(tmp_path, sam_lr=0.0001), out)
    assert rc == 5, log  # ExitCode.REGRESSION
    assert worse["verdict"] == "regression" and worse["regressed"] == ["sam"]
    by_method = {m["method"]: m for m in worse["methods"]}
    assert by_method["sam"]["change"] < -worse["margin"] and by_method["sam"]["p_worse_holm"] <= worse["alpha"]
    assert by_method["sgd"]["decision"] != "regressed"
    # Only SGD kept its configuration, so only its runs must reproduce exactly.
    assert worse["determinism"]["checked"] == SEEDS and worse["determinism"]["mismatches"] == []
    assert worse["determinism"]["skipped"] == {"configuration changed": SEEDS}
    assert "REGRESSION" in log and "sam got worse than the baseline by more than 0.02" in log
    tags = client.get_run(worse["run"]["mlflow_run_id"]).data.tags
    assert tags["nightly_verdict"] == "regression"

    # A determinism break: the baseline's SGD seed 1 differs in one per-epoch value (as if the code had changed
    # an unchanged run's numbers); the statistics cannot see it, the exact check must.
    table = pd.read_parquet(Path(first["run"]["study_dir"]) / "trials.parquet")
    row = table.index[(table.method == "sgd") & (table.seed == 1) & (table.phase == "eval")][0]
    history = json.loads(table.at[row, "history_json"])
    history[1]["val_loss"] += 1e-6
    table.at[row, "history_json"] = json.dumps(history)
    tampered = tmp_path / "tampered.parquet"
    table.to_parquet(tampered)
    rc, log, broken = nightly(study, out, "--baseline", str(tampered))
    assert rc == 5, log  # ExitCode.REGRESSION
    assert broken["verdict"] == "regression" and broken["regressed"] == []
    [mismatch] = broken["determinism"]["mismatches"]
    assert (mismatch["method"], mismatch["seed"], mismatch["metric"]) == ("sgd", 1, "epoch 1 val_loss")
    assert mismatch["baseline"] == pytest.approx(mismatch["current"] + 1e-6)
    assert "sgd seed 1: epoch 1 val_loss is" in log


def test_a_trials_table_of_another_study_is_refused_as_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "other.parquet"
    pd.DataFrame(
        {
            "study": ["quick"],
            "phase": ["eval"],
            "method": ["sam"],
            "seed": [0],
            "status": ["ok"],
            "test_accuracy": [0.9],
        }
    ).to_parquet(foreign)
    out = tmp_path / "out"
    assert main(["nightly", str(write_nightly(tmp_path)), "--out", str(out), "--baseline", str(foreign)]) == 2
    assert f"{foreign}: a trials table of study 'quick', not of 'tinynightly'" in capsys.readouterr().err
    assert not (out / "tinynightly").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("regression: {margin: 0.02}\n", ""), "regression: missing"),
        (
            lambda text: text.replace("hparams: {rho: 0.05}", "search: {rho: {low: 0.01, high: 0.1}}"),
            "methods[sam].search: a nightly study runs fixed configurations",
        ),
        (lambda text: text.replace("margin: 0.02", "margin: -0.1"), "regression.margin"),
    ],
    ids=["no-regression-section", "tuned-method", "negative-margin"],
)
def test_a_study_the_nightly_cannot_decide_on_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit, message: str
) -> None:
    study = tmp_path / "bad.yaml"
    study.write_text(edit(write_nightly(tmp_path).read_text()))
    assert main(["nightly", str(study), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "out").exists()
