"""The `sam-study` entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.cli import main
from pipeline.cli.main import BENCHMARKS


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "bench" in capsys.readouterr().out


def test_unknown_benchmark_exits_2_with_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "gpus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert all(f"'{name}'" in err for name in BENCHMARKS), err


def test_python_dash_m_pipeline_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "sam-study" in done.stdout
