"""Faults injected for real (issue 8), each checked for lost or duplicated trials: a diverging trial in a real
study; a full disk while the trials table is rewritten (RLIMIT_FSIZE, and ENOSPC on a small tmpfs where this
machine allows a private mount); an unwritable table path in the middle of a `sam-study run`."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.results.table import part_path, parts_folder
from tests.study.study_files import (
    ASHA_TRIALS,
    DIVERGE_EPOCHS,
    DIVERGING,
    check_mlflow,
    expected_keys,
    read_table,
    rows_recorded,
    run_to_end,
    sam_study,
    write_tiny_study,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_diverging_trial_is_recorded_with_its_last_finite_metrics_and_counted_as_a_failure(
    diverge_study: subprocess.CompletedProcess[str],
) -> None:
    done = diverge_study  # SGD, SAM (tuned), and MP-SAM and XSAM set to diverge, two seeds each
    assert done.returncode == 0, done.stdout + done.stderr
    out = Path(done.args[-1])

    table = pd.read_parquet(out / "diverge" / "trials.parquet")
    keys = {f"eval/{m}/seed{s}" for m in ("sgd", "sam", *DIVERGING) for s in (0, 1)}
    assert table.trial_key.is_unique
    assert set(table[table.phase == "eval"].trial_key) == keys
    assert set(table[table.phase == "tune"].trial_key) == {f"tune/sam/search0/trial{i}" for i in range(ASHA_TRIALS)}
    table = table[table.phase == "eval"]  # the tuning trials are test_study_e2e's (ASHA)
    assert (table[~table.method.isin(DIVERGING)].status == "ok").all()
    diverged = table[table.method.isin(DIVERGING)]
    assert (diverged.status == "diverged").all(), diverged[["trial_key", "status", "epochs_run"]]
    for row in diverged.itertuples():
        # The epochs before the blow-up, all finite; the row's metrics are the selected model's among them (the
        # lowest validation loss), as for an ok run; the last finite epoch is the history's last record.
        history = json.loads(row.history_json)
        assert 1 <= row.epochs_run < DIVERGE_EPOCHS and len(history) == row.epochs_run
        assert [h["epoch"] for h in history] == list(range(row.epochs_run))
        assert all(math.isfinite(h[k]) for h in history for k in ("train_loss", "val_loss", "val_accuracy"))
        best = min(history, key=lambda h: h["val_loss"])
        assert row.best_epoch == best["epoch"]
        for column in ("train_loss", "val_loss", "val_accuracy"):
            assert getattr(row, column) == pytest.approx(best[column])
        assert 0 <= row.test_accuracy <= 1 and math.isfinite(row.test_loss)
        assert row.error is None and row.wall_time_s > 0

    # MLflow: one child run per trial; a diverged one is FINISHED, tagged diverged, with finite metrics whose
    # per-epoch series end at the last finite epoch.
    uri = f"sqlite:///{out / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("diverge")
    children = client.search_runs([experiment.experiment_id], filter_string="tags.role = 'trial'", max_results=1000)
    every_key = keys | {f"tune/sam/search0/trial{i}" for i in range(ASHA_TRIALS)}
    assert Counter(r.data.tags["trial_key"] for r in children) == Counter(every_key), "one child run per trial"
    by_key = {r.data.tags["trial_key"]: r for r in children}
    for row in diverged.itertuples():
        run = by_key[row.trial_key]
        assert run.info.run_id == row.mlflow_run_id
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "diverged"
        assert run.data.metrics and all(math.isfinite(v) for v in run.data.metrics.values())
        assert run.data.metrics["test_accuracy"] == pytest.approx(row.test_accuracy)
        series = client.get_metric_history(run.info.run_id, "epoch/val_accuracy")
        assert sorted(m.step for m in series) == list(range(row.epochs_run))
        last = json.loads(row.history_json)[-1]
        assert run.data.metrics["epoch/train_loss"] == pytest.approx(last["train_loss"], rel=1e-6)

    # The report written at the end of the run counts them as diverged and, under the default
    # `statistics.diverged: failure`, scores them 0.
    stats = json.loads((out / "diverge" / "stats.json").read_text())
    assert stats["statistics"]["diverged"] == "failure"
    counts = {c["method"]: c for c in stats["run_counts"]}
    for method in DIVERGING:
        assert counts[method] | {"method": method} == {
            "method": method,
            "ok": 0,
            "diverged": 2,
            "failed": 0,
            "missing": 0,
            "scored_as_failure": 2,
        }
        j = stats["methods"].index(method)
        assert [s[j] for s in stats["scores"]] == [0.0, 0.0]
        assert [s[j] for s in stats["status"]] == ["diverged", "diverged"]
    assert counts["sam"]["ok"] == counts["sgd"]["ok"] == 2
    assert "4 diverged run(s) are counted as failures" in stats["verdict"]


# ------------------------------------------------------------------------------------- a full disk

# Appends rows until a part's write fails for real, reports what it sees, frees the space, then reopens
# the table from disk as a resumed study would and appends the failed row again. Runs in its own process:
# RLIMIT_FSIZE and the private mount must not touch the test's.
APPEND_UNTIL_FULL = r"""
import json, os, random, resource, sys
from pathlib import Path
from pipeline.results.row import TrialRow
from pipeline.results.table import TrialsTable, read_frame

path, mode = Path(sys.argv[1]), sys.argv[2]

def row(i):
    # Random text does not compress. Each row is a part of its own (about 16 kB: the schema, every column typed);
    # from the fourth on, 10 kB larger: the file-size limit (per file) and the small disk stop the fourth part.
    return TrialRow.from_record({"study": "s", "phase": "eval", "method": "sam", "optimizer": "sam",
                                 "trial_key": f"k{i:03d}", "seed": i, "status": "ok",
                                 "history_json": random.Random(i).randbytes(512 if i < 3 else 1536).hex()})


def files():
    return sorted(str(p.relative_to(path.parent)) for p in path.parent.rglob("*"))

table = TrialsTable(path)
if mode == "efbig":
    # A write past the limit fails with EFBIG (Python ignores SIGXFSZ, which would otherwise kill the process).
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), resource.RLIM_INFINITY))
else:  # enospc: the folder is a small tmpfs; the ballast leaves little room, and deleting it frees the space
    with open(path.parent / "ballast", "wb") as f:
        f.write(b"\0" * int(sys.argv[3]))
error = None
for i in range(10_000):
    try:
        table.append(row(i))
    except OSError as e:
        error, failed = e, i
        break
assert error is not None, "the table never hit the limit"
seen = {
    "failed": failed,
    "type": type(error).__name__,
    "errno": getattr(error.__cause__, "errno", None),
    "message": str(error),
    "in_memory": sorted(table.keys()),
    "on_disk": read_frame(path).trial_key.tolist(),
    "size": max(p.stat().st_size for p in path.parent.rglob("*.parquet")),
    "files": files(),
}
if mode == "efbig":
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
else:
    (path.parent / "ballast").unlink()
resumed = TrialsTable(path)
seen["resumed"] = len(resumed)
for i in range(failed, failed + 3):
    resumed.append(row(i))
seen["after"] = read_frame(path).trial_key.tolist()
seen["files_after"] = files()
print(json.dumps(seen))
"""


def _append_until_full(command: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # no .pyc writes under the file-size limit
    done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_full_disk(seen: dict[str, Any], path: Path, code: int, words: str) -> None:
    failed = seen["failed"]
    before = [f"k{i:03d}" for i in range(failed)]
    assert failed >= 3, seen  # several rows went in before the disk filled
    assert seen["type"] == "TableWriteError" and seen["errno"] == code, seen
    assert str(path) in seen["message"] and words in seen["message"]
    assert seen["in_memory"] == before, "the failed row is not kept in memory"
    assert seen["on_disk"] == before, "the file on disk is the previous table, whole"
    assert not any(name.endswith(".tmp") for name in seen["files"]), seen["files"]
    assert seen["resumed"] == failed
    assert seen["after"] == [f"k{i:03d}" for i in range(failed + 3)], "each row once, after the space is freed"
    assert not any(name.endswith(".tmp") for name in seen["files_after"])


def test_a_file_size_limit_while_appending_leaves_the_previous_table_whole(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    limit = 20_000  # a part of the first three rows takes about 16 kB, of the later ones about 26 kB
    seen = _append_until_full([sys.executable, "-c", APPEND_UNTIL_FULL, str(path), "efbig", str(limit)])
    _check_full_disk(seen, path, errno.EFBIG, "File too large")
    assert seen["size"] <= limit


def _private_mounts_work() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _private_mounts_work(), reason="needs root and unshare for a private tmpfs mount")
def test_a_full_filesystem_while_appending_leaves_the_previous_table_whole(tmp_path: Path) -> None:
    """ENOSPC for real: a 256 kB tmpfs, mounted in a private mount namespace that ends with the process."""
    folder = tmp_path / "small"
    folder.mkdir()
    path = folder / "trials.parquet"
    script = f'mount -t tmpfs -o size=256k tmpfs {folder} && exec {sys.executable} -c "$0" {path} enospc {196 * 1024}'
    seen = _append_until_full(["unshare", "-m", "--propagation", "private", "sh", "-c", script, APPEND_UNTIL_FULL])
    _check_full_disk(seen, path, errno.ENOSPC, "No space left on device")
    assert not any(folder.iterdir()), "the tmpfs lived only in the test's own mount namespace"


def test_an_output_folder_that_cannot_be_made_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out below a regular file: creating the study folder fails with ENOTDIR before Ray starts."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    study = write_tiny_study(tmp_path)
    assert main(["run", str(study), "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write {blocker / 'out' / 'tiny' / 'spec.json'}: [Errno 20]" in err, err
    assert "run the same command again" in err and blocker.read_text() == ""


# ------------------------------------------------------------------- an unwritable table mid-study

TRIALS, EPOCHS = 4, 3


def _block_the_next_appends(process: subprocess.Popen[str], table: Path, rows: int, timeout: float = 300) -> list[Path]:
    """Once the table holds ``rows`` rows, put a directory where the driver writes each later part
    (``trials.parts/.<n>.parquet.<driver pid>.tmp``, beside it): the next append fails with EISDIR."""
    total = len(expected_keys(TRIALS))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the study ended (rc={process.returncode}) before {rows} trials were recorded")
        recorded = rows_recorded(table)
        if recorded >= rows:
            obstacles = [_temporary(part_path(table, n), process.pid) for n in range(recorded, total)]
            try:
                for obstacle in obstacles:
                    obstacle.mkdir()
                return obstacles
            except FileExistsError:  # the driver is writing that very file now: try again in a moment
                for obstacle in obstacles:
                    if obstacle.is_dir():
                        obstacle.rmdir()
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no {rows} rows in {table} within {timeout} s")


def _temporary(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.{pid}.tmp")  # as pipeline._io.replace_atomically names it


@pytest.mark.slow
def test_an_unwritable_table_stops_the_study_with_a_message_and_a_rerun_resumes(tmp_path: Path) -> None:
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    table_path = out / "tiny" / "trials.parquet"
    log, err = tmp_path / "first.log", tmp_path / "first.err"
    with log.open("w") as stdout, err.open("w") as stderr:
        first = sam_study("run", str(study), "--out", str(out), stdout=stdout, stderr=stderr)
        try:
            obstacles = _block_the_next_appends(first, table_path, rows=2)
            recorded = read_table(table_path)  # no append can succeed from here on
            rc = first.wait(timeout=300)
        finally:
            if first.poll() is None:
                first.kill()
    message = err.read_text()
    assert rc == 2, log.read_text() + message
    assert f"error: cannot write the trials table {table_path}: [Errno 21]" in message, message
    assert "run the same command again to resume" in message and "Traceback" not in message, message
    # The table on disk is whole and unchanged: every trial recorded before, once; nothing after.
    after = read_table(table_path)  # the study stopped before its end: its parts are not compacted
    assert 2 <= len(after) < len(expected_keys(TRIALS))
    assert after.trial_key.is_unique and after.equals(recorded)
    assert all(obstacle.is_dir() and not any(obstacle.iterdir()) for obstacle in obstacles)
    parts = parts_folder(table_path)
    assert sorted(p.name for p in parts.glob(".*")) == sorted(obstacle.name for obstacle in obstacles)

    for obstacle in obstacles:
        obstacle.rmdir()
    second = run_to_end("run", str(study), "--out", str(out), timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming: {len(recorded)} trial(s) done" in second.stdout
    table = pd.read_parquet(table_path)
    assert set(table.trial_key) == expected_keys(TRIALS) and table.trial_key.is_unique
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
    kept = table.set_index("trial_key").loc[recorded.trial_key]
    assert list(kept.finished_at) == list(recorded.finished_at), "trials recorded before were not run again"
    check_mlflow(f"sqlite:///{out / 'mlflow.db'}", table, epochs=EPOCHS)  # one finished child run per trial


@pytest.mark.slow
def test_asha_stops_weak_tuning_trials_and_each_is_recorded_as_stopped(
    diverge_study: subprocess.CompletedProcess[str],
) -> None:
    # The tuning of SAM by ASHA over a range up to ρ = 20, in the study whose diverging methods the first test
    # checks (in one module, so that two test workers do not both run the study).
    done, epochs, trials = diverge_study, DIVERGE_EPOCHS, ASHA_TRIALS
    assert done.returncode == 0, done.stdout + done.stderr
    out = Path(done.args[-1])
    table = pd.read_parquet(out / "diverge" / "trials.parquet")
    assert table.trial_key.is_unique and len(table) == trials + 8  # and four methods × two seeds
    tune = table[table.phase == "tune"]
    assert len(tune) == trials and (tune.method == "sam").all()
    stopped = tune[tune.stopped_by_scheduler]
    assert 1 <= len(stopped) < trials, "ASHA stopped no trial (or all of them)"
    assert (stopped.epochs_run < epochs).all() and stopped.val_accuracy.between(0, 1).all()
    assert stopped.wall_time_s.gt(0).all()
    assert (tune[~tune.stopped_by_scheduler].epochs_run == epochs).all()
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["diverge"]).set_index("tags.trial_key")
    for key in stopped.trial_key:
        assert runs.loc[key, "status"] == "KILLED" and runs.loc[key, "tags.status"] == "stopped"
