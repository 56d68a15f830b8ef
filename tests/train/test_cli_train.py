"""`sam-study train` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.cli import main


def test_train_writes_the_result_json(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(
        [
            "train",
            "--dataset",
            "mnist1d",
            "--model",
            "mlp",
            "--hidden",
            "32,32",
            "--optimizer",
            "lets-sam",
            "--rho",
            "0.05",
            "--epochs",
            "2",
            "--seed",
            "0",
            "--batch-size",
            "256",
            "--device",
            "cpu",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    assert "status ok" in capsys.readouterr().out
    result = json.loads(out.read_text())
    for key in [
        "status",
        "test_accuracy",
        "test_loss",
        "val_accuracy",
        "val_loss",
        "epochs_run",
        "wall_time_s",
        "passes_per_step",
        "rho_trajectory",
    ]:
        assert key in result, key
    assert result["status"] == "ok" and result["epochs_run"] == 2 and result["passes_per_step"] == 3
    assert len(result["rho_trajectory"]) == 3
    assert result["config"]["hparams"] == {"rho": 0.05}
    assert result["config"]["model"]["hidden"] == [32, 32]


@pytest.mark.parametrize("flag, bad", [("--dataset", "imagenet"), ("--model", "vit"), ("--optimizer", "adamax")])
def test_unknown_names_exit_2_with_the_valid_names(flag, bad):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", flag, bad], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert f"invalid choice: '{bad}'" in done.stderr and "choose from" in done.stderr


def test_missing_cifar_directory_names_the_path_and_the_files(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    code = main(
        ["train", "--dataset", "cifar10", "--data-root", str(missing), "--model", "resnet18", "--device", "cpu"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "data_batch_1.bin" in err


def test_bad_values_exit_2_naming_the_field(capsys):
    assert main(["train", "--optimizer", "sam", "--rho", "-1", "--device", "cpu"]) == 2
    assert "rho" in capsys.readouterr().err
    assert main(["train", "--label-noise", "1.5", "--device", "cpu"]) == 2
    assert "--label-noise" in capsys.readouterr().err
