"""Bad input through the commands: each exits 2 with a message naming the file and the fix, and nothing is started,
created or overwritten."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.data import DataConfig, DatasetError, check_dataset
from pipeline.results.folder import REPORT_FILE, STATS_FILE, TABLE_FILE
from tests.data.cifar_files import write_cifar10, write_cifar100
from tests.stats.synthetic_study import write_study
from tests.study.study_files import TINY_STUDY


def cifar_study(name: str, root: Path) -> str:
    """The tiny study of the end-to-end tests, on CIFAR at ``root``."""
    tiny = TINY_STUDY.format(trials=2, epochs=1)
    synthetic = "data:\n  name: synthetic\n  synthetic: {n_samples: 400}\n"
    assert synthetic in tiny
    return tiny.replace(synthetic, f"data: {{name: {name}, root: '{root}'}}\n")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize(
    ("name", "write", "damage", "victim", "message"),
    [
        ("cifar10", write_cifar10, Path.unlink, "data_batch_3.bin", "is missing data_batch_3.bin"),
        ("cifar10", write_cifar10, _truncate, "test_batch.bin", "not a positive multiple of the 3073-byte record"),
        ("cifar100", write_cifar100, _truncate, "train.bin", "not a positive multiple of the 3074-byte record"),
        ("cifar100", write_cifar100, lambda p: p.write_bytes(b""), "test.bin", "has 0 bytes"),
    ],
    ids=["cifar10-missing-file", "cifar10-truncated", "cifar100-truncated", "cifar100-empty"],
)
def test_a_damaged_cifar_directory_stops_the_study_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name, write, damage, victim: str, message: str
) -> None:
    written = write(tmp_path / "data")
    check_dataset(DataConfig(name=name, root=str(tmp_path / "data")))  # the intact archive passes
    damage(written.folder / victim)
    study = tmp_path / "cifar.yaml"
    study.write_text(cifar_study(name, tmp_path / "data"))
    out = tmp_path / "out"

    assert main(["run", str(study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {study}: data.root: ") and message in err and "Traceback" not in err
    assert victim in err and ("download" in err or "expected" in err), err
    assert not out.exists(), "no study folder, MLflow store or Ray run may be created"


def test_check_dataset_reads_sizes_only_and_passes_datasets_made_in_memory(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    # Labels out of range are found when a trial reads the file, not by the size check: it reads no record.
    first = bytearray((written.folder / "data_batch_1.bin").read_bytes())
    first[0] = 200
    (written.folder / "data_batch_1.bin").write_bytes(bytes(first))
    check_dataset(DataConfig(name="cifar10", root=str(tmp_path)))
    for name in ("synthetic", "mnist1d", "digits"):
        check_dataset(DataConfig(name=name))
    with pytest.raises(DatasetError, match="is not a directory"):
        check_dataset(DataConfig(name="cifar10", root=str(tmp_path / "nowhere")))


def test_report_on_a_folder_holding_another_studys_table_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study_dir = write_study(tmp_path, {"sam": [0.9, 0.91, 0.92], "sgd": [0.8, 0.82, 0.81]})
    table = study_dir / TABLE_FILE
    frame = pd.read_parquet(table)
    frame["study"] = "quick"  # as if OUT/quick/trials.parquet had been copied here
    frame.to_parquet(table)
    before = {p.name: p.read_bytes() for p in study_dir.iterdir() if p.is_file()}

    assert main(["report", str(study_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{table}: a trials table of study 'quick', not of 'synthetic'" in err and "Traceback" not in err
    assert not (study_dir / REPORT_FILE).exists() and not (study_dir / STATS_FILE).exists()
    assert not (study_dir / "figures").exists()
    assert {p.name: p.read_bytes() for p in study_dir.iterdir() if p.is_file()} == before, "nothing is touched"
