"""Both ways a lost Ray reaches the driver, each forced deterministically (``tests.study.force_ray_lost`` kills the
real GCS of the command's embedded Ray once two trials are recorded, with the main thread held where it chooses),
for `sam-study run` on a study and on a suite, and for `sam-study nightly`: the process ends with exit 4 within
seconds, sam-study's own lines are the last on the terminal (no line of Ray's client after them, which a normal
interpreter exit would print a minute later, ending the process with exit 1), and the recorded trials are kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli.exit_codes import ExitCode
from tests.study.study_files import default_sigint, rows_recorded, write_tiny_study
from tests.study.test_nightly_e2e import write_nightly
from tests.study.test_suite_e2e import write_suite

pytestmark = pytest.mark.slow

EXITS_WITHIN_S = 30  # the watch needs about 3 s to call the GCS lost, and 3 s more when the main thread is stuck
KILL_AFTER_ROWS = 2


def forced(mode: str, marker: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``sam-study ARGS`` under ``force_ray_lost MODE``; the process and the seconds from the kill to its end."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.study.force_ray_lost", mode, str(marker), *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
        preexec_fn=default_sigint,
        check=False,
    )
    ended = time.time()
    lines = marker.read_text().splitlines() if marker.exists() else []
    killed = [float(line.split()[1]) for line in lines if line.startswith("killed ")]
    assert len(killed) == 1, (lines, done.stdout + done.stderr)
    return done, ended - killed[0]


def command_line(kind: str, folder: Path, out: Path) -> tuple[list[str], list[Path], str]:
    """The command, the trials tables it writes, and the last line it must print on a lost Ray."""
    if kind == "study":
        study = write_tiny_study(folder, trials=4, epochs=20)
        return ["run", str(study), "--out", str(out)], [out / "tiny"], f"resume with: sam-study run {study} --out {out}"
    if kind == "suite":
        suite = write_suite(folder)
        tasks = [out / "tiny_suite" / task for task in ("small", "wide")]
        return ["run", str(suite), "--out", str(out)], tasks, f"resume with: sam-study run {suite} --out {out}"
    nightly = write_nightly(folder)
    return ["nightly", str(nightly), "--out", str(out), "--accept"], [], "run the same command again for a new night"


@pytest.mark.parametrize("mode", ["main", "stuck"])
@pytest.mark.parametrize("kind", ["study", "suite", "nightly"])
def test_a_lost_ray_ends_the_command_with_exit_4_at_once(tmp_path: Path, kind: str, mode: str) -> None:
    out, marker = tmp_path / "out", tmp_path / "marker"
    args, folders, last_line = command_line(kind, tmp_path, out)
    done, took = forced(mode, marker, *args)

    assert done.returncode == ExitCode.RAY_LOST, done.stdout + done.stderr
    assert took < EXITS_WITHIN_S, f"exit {took:.0f} s after the GCS died"
    # Which thread took the loss: the one this mode forced.
    assert ("main" in marker.read_text().split()) == (mode == "main"), marker.read_text()
    # sam-study's lines are the last: nothing of Ray's client after them (nor anywhere on the terminal).
    assert done.stderr.rstrip("\n").splitlines()[-1] == last_line, done.stderr
    assert "error: " in done.stderr and "was lost" in done.stderr
    for noise in ("rpc_client", "Failed to connect to GCS", "Traceback"):
        assert noise not in done.stdout + done.stderr, noise
    if kind == "nightly":
        assert "nothing was decided" in done.stderr
    else:
        assert f"{KILL_AFTER_ROWS} finished trial(s) are recorded" in done.stderr
        recorded = sum(rows_recorded(f / "trials.parquet") for f in folders)
        assert recorded == KILL_AFTER_ROWS
