"""A tiny study for the end-to-end tests: two methods, two seeds, seconds per trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

TINY_STUDY = """\
name: tiny
data:
  name: synthetic
  synthetic: {{n_samples: 400}}
model: {{name: mlp, hidden: [32]}}
training: {{lr: 0.05, epochs: {epochs}, batch_size: 32}}
methods:
  - name: sgd
  - name: sam
    search: {{rho: {{low: 0.01, high: 0.5, log: true}}}}
reference: sam
tuning: {{trials: {trials}, startup_trials: 2}}
evaluation: {{seeds: [0, 1]}}
resources: {{cpu: 1}}
retries: 0
"""


def write_tiny_study(folder: Path, *, trials: int = 4, epochs: int = 3, extra: str = "") -> Path:
    path = folder / "tiny.yaml"
    path.write_text(TINY_STUDY.format(trials=trials, epochs=epochs) + extra)
    return path


def expected_keys(trials: int) -> set[str]:
    tune = {f"tune/sam/search0/trial{i}" for i in range(trials)}
    return tune | {f"eval/{m}/seed{s}" for m in ("sgd", "sam") for s in (0, 1)}


def sam_study(*args: str, **popen: object) -> subprocess.Popen[str]:
    """``sam-study ARGS`` as a child process (the real command line, with its own Ray instance)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "pipeline", *args], env=env, text=True, **popen
    )


def run_to_end(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def interrupt_after_rows(process: subprocess.Popen[str], table: Path, rows: int, timeout: float = 240) -> None:
    """Ctrl-C the study once its trials table holds ``rows`` rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the study ended (rc={process.returncode}) before {rows} trials were recorded")
        if table.exists() and len(pd.read_parquet(table)) >= rows:
            process.send_signal(signal.SIGINT)
            return
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no {rows} rows in {table} within {timeout} s")
