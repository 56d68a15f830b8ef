"""`sam-study run` refuses bad input with exit 2 before anything starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.results.folder import StudyFolder
from pipeline.spec.study import load_study
from pipeline.study.preparation import _prepare_folder
from tests.study.study_files import write_tiny_study


def test_a_bad_study_file_exits_2_naming_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = write_tiny_study(tmp_path)
    study.write_text(study.read_text().replace("seeds: [0, 1]", "seeds: [0]"))
    assert main(["run", str(study), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(study) in err and "evaluation.seeds" in err
    assert not (tmp_path / "out").exists(), "nothing may be created for a bad study"


def test_a_missing_study_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such study file" in capsys.readouterr().err


def test_an_unsupported_tracking_uri_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = write_tiny_study(tmp_path)
    assert (
        main(
            [
                "run",
                str(study),
                "--out",
                str(tmp_path / "out"),
                "--tracking-uri",
                "./mlruns",
            ]
        )
        == 2
    )
    assert "not supported" in capsys.readouterr().err


def test_a_folder_of_a_different_study_spec_is_not_resumed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = write_tiny_study(tmp_path, trials=4)
    out = tmp_path / "out"
    _prepare_folder(load_study(study), StudyFolder(out / "tiny"))  # as a first run would have left it
    write_tiny_study(tmp_path, trials=5)
    assert main(["run", str(study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different settings" in err and "tuning" in err and "--out" in err


def test_an_unreachable_ray_cluster_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = write_tiny_study(tmp_path)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["run", str(study), "--out", str(tmp_path / "out"), "--address", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to the Ray cluster" in err and "--address" in err
