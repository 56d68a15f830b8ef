"""No secret is written anywhere: a password in a tracking URI is shown as ``***``, moves into the environment (where
MLflow's client and libpq read it) before anything is written or started, and never reaches the trials table, the
study folder, Ray's files, MLflow's params, tags or artifacts, the printed lines, the errors or the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.results.folder import TRACKING_FILE, TrackingRecord, record_tracking
from pipeline.study.mlflow.errors import TrackingError
from pipeline.study.mlflow.secrets import credential_vars, redact, split_credentials, use_credentials
from pipeline.study.mlflow.uri import resolve_tracking
from tests.stats.synthetic_study import write_study
from tests.study.study_files import run_to_end, write_tiny_study

SECRET = "s3cr3t-T0KEN"
CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "PGPASSWORD")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No credential variable set, and whatever a test sets is undone after it (use_credentials sets them)."""
    for name in CREDENTIALS:
        monkeypatch.setenv(name, "placeholder")  # registered with monkeypatch, so restored afterwards
        monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://alice:s3cr3t@127.0.0.1:5000", "http://alice:***@127.0.0.1:5000"),
        ("https://alice:p%40ss:word@mlflow.example.org/prefix", "https://alice:***@mlflow.example.org/prefix"),
        ("https://alice:p@ss@host:5000", "https://alice:***@host:5000"),  # an unencoded @ in the password
        ("http://:TOKEN@host:5000", "http://:***@host:5000"),
        ("postgresql://mlflow:PASSWORD@db:5432/mlflow", "postgresql://mlflow:***@db:5432/mlflow"),
        (
            "postgresql+psycopg2://u:pw@db/mlflow?sslmode=require",
            "postgresql+psycopg2://u:***@db/mlflow?sslmode=require",
        ),
        ("http://host:5000/api?token=abc123&x=1", "http://host:5000/api?token=***&x=1"),
        ("http://host:5000/?access_token=abc#frag", "http://host:5000/?access_token=***#frag"),
        ("http://alice@host:5000", "http://alice@host:5000"),  # a user alone is no secret
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:////tmp/out/mlflow.db", "sqlite:////tmp/out/mlflow.db"),
        (
            "error at http://a:b@h1:1/x, then at postgresql://c:d@h2/db.",
            "error at http://a:***@h1:1/x, then at postgresql://c:***@h2/db.",
        ),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown


def test_split_credentials_moves_the_password_to_the_clients_variables() -> None:
    assert split_credentials(f"http://alice:{SECRET}@127.0.0.1:5000/") == (
        "http://127.0.0.1:5000/",
        {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": SECRET},
    )
    assert split_credentials("postgresql+psycopg2://mlflow:p%40ss@db:5432/mlflow") == (
        "postgresql+psycopg2://mlflow@db:5432/mlflow",
        {"PGPASSWORD": "p@ss"},
    )
    for uri in ("http://alice@host:5000", "http://host:5000", "sqlite:///x/mlflow.db"):
        assert split_credentials(uri) == (uri, {})
    with pytest.raises(TrackingError) as refused:
        split_credentials(f"mysql://root:{SECRET}@db/mlflow")
    assert SECRET not in str(refused.value) and "mysql://root:***@db/mlflow" in str(refused.value)


def test_use_credentials_sets_the_environment_and_refuses_a_cluster(clean_env: pytest.MonkeyPatch) -> None:
    uri = f"http://alice:{SECRET}@127.0.0.1:5000"
    with pytest.raises(TrackingError) as refused:
        use_credentials(uri, address="127.0.0.1:6379")
    message = str(refused.value)
    assert SECRET not in message and "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in message
    assert "every node" in message and "--tracking-uri http://127.0.0.1:5000" in message
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ, "a refused URI changes nothing"

    assert use_credentials(uri) == "http://127.0.0.1:5000"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice" and os.environ["MLFLOW_TRACKING_PASSWORD"] == SECRET
    assert credential_vars("http://127.0.0.1:5000") == ["MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"]
    assert credential_vars("sqlite:///x.db") == []


def test_resolve_tracking_moves_the_password_out_then_checks_the_store(clean_env: pytest.MonkeyPatch) -> None:
    """The one set-up every command runs: credentials into the environment first, then the check, on the bare URI."""
    assert resolve_tracking("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(TrackingError, match="every node"):
        resolve_tracking(f"http://alice:{SECRET}@127.0.0.1:9", address="127.0.0.1:6379")
    with pytest.raises(TrackingError) as unreachable:  # discard port: nothing listens
        resolve_tracking(f"http://alice:{SECRET}@127.0.0.1:9")
    assert "cannot be reached" in str(unreachable.value) and SECRET not in str(unreachable.value)
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == SECRET
    with pytest.raises(TrackingError, match="not supported"):
        resolve_tracking("./mlruns")


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path, capsys, clean_env) -> None:
    study = write_tiny_study(tmp_path)
    uri = f"http://alice:{SECRET}@127.0.0.1:9"  # discard port: nothing listens
    assert main(["run", str(study), "--out", str(tmp_path / "out"), "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "http://127.0.0.1:9" in err and SECRET not in err
    assert not (tmp_path / "out").exists()


def test_report_asks_for_the_credentials_it_was_not_given(tmp_path: Path, capsys, clean_env) -> None:
    study_dir = write_study(tmp_path, {"sam": [0.9, 0.91, 0.92], "sgd": [0.8, 0.82, 0.81]})
    record_tracking(
        study_dir,
        TrackingRecord("http://127.0.0.1:9", "1", "abc", ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")),
    )
    assert json.loads((study_dir / TRACKING_FILE).read_text())["credentials_from"] == (
        "MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD"
    )
    assert main(["report", str(study_dir)]) == 1  # written, not attached
    err = capsys.readouterr().err
    assert "not attached to MLflow" in err and "MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD" in err
    assert "--tracking-uri" in err


# ------------------------------------------------------------------------------------ a real study


def _files_holding(root: Path, secret: bytes, skip: set[Path]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path not in skip:
            try:
                if secret in path.read_bytes():
                    found.append(str(path))
            except OSError:
                pass  # a socket or a file that vanished
    return found


@pytest.mark.slow
def test_a_study_with_a_password_in_its_tracking_uri_writes_it_nowhere(
    tmp_path: Path, mlflow_server: str, mlflow_server_folder: Path
) -> None:
    import mlflow

    uri = mlflow_server.replace("http://", f"http://alice:{SECRET}@")
    study = write_tiny_study(tmp_path, trials=2, epochs=1, extra=f"output: {{tracking_uri: '{uri}'}}\n")
    study.write_text(study.read_text().replace("name: tiny\n", "name: secrets\n"))  # its own experiment
    out = tmp_path / "out"
    # Ray's own session folder (logs of every process it starts) under a short path of its own, scanned too.
    ray_tmp = Path(tempfile.mkdtemp(prefix="sam-ray-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env.update(PYTHONUNBUFFERED="1", RAY_TMPDIR=str(ray_tmp))
    try:

        def sam_study(*args: str) -> subprocess.CompletedProcess[str]:
            return run_to_end(*args, timeout=600, env=env)

        run = sam_study("run", str(study), "--out", str(out), "--tracking-uri", uri)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert f"MLflow at {mlflow_server} " in run.stdout
        # Without the credentials the report is written but not attached, and says what to set.
        unattached = sam_study("report", str(out / "secrets"))
        assert unattached.returncode == 1 and "MLFLOW_TRACKING_PASSWORD" in unattached.stderr
        attached = sam_study("report", str(out / "secrets"), "--tracking-uri", uri)
        assert attached.returncode == 0, attached.stderr[-3000:]
        for done in (run, unattached, attached):
            assert SECRET not in done.stdout + done.stderr

        # Every file the study wrote (in tmp_path), every file of the MLflow server (its store, artifacts and log),
        # and every file of Ray's session: the trials table, spec.json, mlflow.json, the report, Ray's experiment dirs.
        assert (out / "ray").is_dir() and any(ray_tmp.rglob("*.log"))
        skip = {study}  # the user's own file holds it, of course
        assert _files_holding(tmp_path, SECRET.encode(), skip) == []
        assert _files_holding(mlflow_server_folder, SECRET.encode(), skip) == []
        assert _files_holding(ray_tmp, SECRET.encode(), skip) == []
        recorded = json.loads((out / "secrets" / TRACKING_FILE).read_text())
        assert recorded["tracking_uri"] == mlflow_server
        assert json.loads((out / "secrets" / "spec.json").read_text())["output"]["tracking_uri"] == redact(uri)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)

    # The runs are there, and no param, tag or artifact of any of them holds the secret.
    table = pd.read_parquet(out / "secrets" / "trials.parquet")
    mlflow.set_tracking_uri(mlflow_server)
    client = mlflow.MlflowClient(mlflow_server)
    runs = mlflow.search_runs(experiment_names=["secrets"], output_format="list")
    assert sorted(r.data.tags.get("trial_key") for r in runs if r.data.tags.get("role") == "trial") == sorted(
        table.trial_key
    )
    (parent,) = [r for r in runs if r.data.tags.get("role") == "study"]
    assert parent.data.params["output.tracking_uri"] == redact(uri)
    for run in runs:
        assert SECRET not in json.dumps({**run.data.params, **run.data.tags})
    with tempfile.TemporaryDirectory() as folder:
        local = Path(client.download_artifacts(parent.info.run_id, "", folder))
        assert (local / "study" / "tiny.yaml").read_text() == redact(study.read_text())
        assert _files_holding(local, SECRET.encode(), set()) == []
