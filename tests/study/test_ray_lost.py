"""The Ray instance dies under a running study (its GCS killed, for real): `sam-study run` says within seconds what
was lost, how many trials are recorded and the command that resumes, exits with its documented code, and that
command finishes the study. The same runs show what a user sees on the terminal: sam-study's lines only (the
libraries' own output in the study folder's study.log), and with --verbose the libraries' output too."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from pipeline.cli.exit_codes import ExitCode
from pipeline.results.folder import LOG_FILE
from tests.study.processes import signal_all, tree, wait_gone
from tests.study.study_files import (
    check_table,
    expected_keys,
    read_table,
    rows_recorded,
    run_to_end,
    sam_study,
    write_tiny_study,
)

pytestmark = pytest.mark.slow

# Epochs enough for a trial to take about a second, so that the signals land while trials remain.
TRIALS, EPOCHS = 6, 100
REPORTS_WITHIN_S = 30  # Ray's own client would wait 60 s, then end the process with exit code 1


def gcs_server(driver: int) -> psutil.Process | None:
    """The GCS of the embedded Ray that the driver ``driver`` started (a child process of it)."""
    for process in tree(driver):
        try:
            if any("gcs_server" in part for part in process.cmdline()):
                return process
        except psutil.Error:
            continue
    return None


def wait_for_rows(process: subprocess.Popen[str], table: Path, rows: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the study ended (rc={process.returncode}) before {rows} trials were recorded"
        if rows_recorded(table) >= rows:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {rows} rows in {table} within {timeout} s")


def test_a_lost_ray_is_reported_at_once_and_the_same_command_resumes(tmp_path: Path) -> None:
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    table = out / "tiny" / "trials.parquet"
    first = sam_study("run", str(study), "--out", str(out), "--verbose", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    doomed: list[psutil.Process] = []
    try:
        wait_for_rows(first, table, rows=2)
        gcs = gcs_server(first.pid)
        assert gcs is not None, "no GCS process below the driver"
        doomed = tree(first.pid)
        killed_at = time.monotonic()
        gcs.send_signal(signal.SIGKILL)
        stdout, stderr = first.communicate(timeout=120)
        took = time.monotonic() - killed_at
    finally:
        first.kill()
        signal_all(doomed, signal.SIGKILL)  # Ray's processes would end on their own, later
        wait_gone(doomed, 30)

    assert first.returncode == ExitCode.RAY_LOST, stdout + stderr
    assert took < REPORTS_WITHIN_S, f"the loss was reported {took:.0f} s after the GCS died"
    recorded = rows_recorded(table)  # the killed study left its parts uncompacted
    message = stderr[stderr.index("error: the embedded Ray instance was lost") :]
    assert f"{recorded} finished trial(s) are recorded in {table}" in message
    assert f"resume with: sam-study run {study} --out {out}" in message
    assert "Traceback" not in stdout + stderr
    # --verbose: the libraries' output is on the terminal (MLflow creating its new store), not in a log file.
    assert "mlflow" in stdout + stderr and not (out / "tiny" / LOG_FILE).exists()

    # The command it printed, as a user would run it (without --verbose).
    second = run_to_end("run", str(study), "--out", str(out), timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming: {recorded} trial(s) done" in second.stdout
    check_table(read_table(table), trials=TRIALS, epochs=EPOCHS)
    assert set(read_table(table).trial_key) == expected_keys(TRIALS)
    check_terminal(second.stdout, second.stderr, out / "tiny" / LOG_FILE)


def check_terminal(stdout: str, stderr: str, log: Path) -> None:
    """Without --verbose: the study's header first, a trial line among the first 10, progress lines with the time
    left, nothing from the libraries on the terminal, and their output in study.log."""
    lines = stdout.splitlines()
    assert lines[0].startswith("study tiny:"), stdout
    first_trial = next(n for n, line in enumerate(lines) if line.startswith(("[tune ", "[eval ")))
    assert first_trial < 10, stdout
    trial_lines = [line for line in lines if line.startswith(("[tune ", "[eval "))]
    assert any(" left" in line for line in trial_lines), stdout
    assert stderr == "", stderr
    for noise in ("WARNING", "INFO", "Token authentication", "rpc_client"):
        assert noise not in stdout, noise
    assert "Token authentication" in log.read_text() or "ray" in log.read_text().lower()


def test_ctrl_c_at_a_terminal_is_an_interruption_not_a_lost_ray(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole foreground process group, Ray's GCS included: the study still says
    it was interrupted (130), whatever became of the GCS."""
    study = write_tiny_study(tmp_path, trials=TRIALS, epochs=EPOCHS)
    out = tmp_path / "out"
    driver = sam_study(
        "run", str(study), "--out", str(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    doomed: list[psutil.Process] = []
    try:
        wait_for_rows(driver, out / "tiny" / "trials.parquet", rows=1)
        doomed = tree(driver.pid)
        os.killpg(driver.pid, signal.SIGINT)  # the driver leads its own group, as a shell's foreground job does
        stdout, stderr = driver.communicate(timeout=120)
    finally:
        driver.kill()
        signal_all(doomed, signal.SIGKILL)
        wait_gone(doomed, 30)
    assert driver.returncode == ExitCode.INTERRUPTED, stdout + stderr
    assert "interrupted: every finished trial is kept" in stderr
    assert "was lost" not in stderr
