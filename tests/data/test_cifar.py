"""The CIFAR binary reader on tiny archives written here in the official record format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data import DataConfig, DatasetError, build_dataset
from pipeline.data.cifar import CIFAR_FORMATS, read_cifar_file
from tests.data.cifar_files import write_cifar10, write_cifar100


def _records(labels: np.ndarray, pixels: np.ndarray) -> list[tuple[int, bytes]]:
    return sorted((int(label), p.tobytes()) for label, p in zip(labels, pixels, strict=False))


@pytest.mark.parametrize("name, write", [("cifar10", write_cifar10), ("cifar100", write_cifar100)])
def test_reader_returns_the_written_labels_and_channel_major_pixels(tmp_path, name, write):
    written = write(tmp_path)
    fmt = CIFAR_FORMATS[name]
    labels, pixels = read_cifar_file(written.folder / fmt.test_file, fmt)
    assert labels.dtype == np.int64 and pixels.dtype == np.uint8 and pixels.shape == (10, 3, 32, 32)
    assert np.array_equal(labels, written.test_labels)  # CIFAR-100: the fine label, not the coarse one
    assert np.array_equal(pixels, written.test_pixels)


@pytest.mark.parametrize("name, write", [("cifar10", write_cifar10), ("cifar100", write_cifar100)])
def test_build_splits_normalises_per_channel_with_training_statistics(tmp_path, name, write):
    written = write(tmp_path)
    data = build_dataset(DataConfig(name=name, root=str(tmp_path)), seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (48, 12, 10)
    assert data.is_image and data.input_shape == (3, 32, 32) and data.num_classes == (10 if name == "cifar10" else 100)
    assert data.train.x.shape == (48, 3, 32, 32) and data.train.x.dtype == torch.float32

    # Each channel of the test set is an exact affine image of the written pixels: x = (p - mean_c) / std_c.
    train_x = data.train.x.double()
    for c in range(3):
        assert abs(train_x[:, c].mean().item()) < 1e-4 and abs(train_x[:, c].std(correction=0).item() - 1) < 1e-4
        p = torch.from_numpy(written.test_pixels[:, c]).double().flatten()
        slope, intercept = np.polyfit(p.numpy(), data.test.x[:, c].double().flatten().numpy(), 1)
        assert np.allclose(slope * p.numpy() + intercept, data.test.x[:, c].flatten().numpy(), atol=1e-4)
        # Mapping back recovers whole pixels for train and val too; together they are exactly the written pool.
        mean, std = -intercept / slope, 1 / slope
        for split in (data.train, data.val):
            split.x[:, c] = torch.round(split.x[:, c].double() * std + mean).float()
    recovered = torch.cat([data.train.x, data.val.x]).numpy().astype(np.uint8)
    labels = torch.cat([data.train.y, data.val.y]).numpy()
    assert _records(labels, recovered) == _records(written.train_labels, written.train_pixels)


def test_root_may_be_the_parent_or_the_folder_itself(tmp_path: Path):
    written = write_cifar10(tmp_path)
    via_parent = build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), seed=3)
    via_folder = build_dataset(DataConfig(name="cifar10", root=str(written.folder)), seed=3)
    assert torch.equal(via_parent.train.x, via_folder.train.x) and torch.equal(via_parent.val.y, via_folder.val.y)


def test_seed_decides_the_validation_split_and_val_fraction_its_size(tmp_path: Path):
    write_cifar10(tmp_path, per_file=20)
    a, b, c = (build_dataset(DataConfig(name="cifar10", root=str(tmp_path), val_fraction=0.25), s) for s in (1, 1, 2))
    assert (len(a.train), len(a.val)) == (75, 25)
    assert torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)


def test_shifted_cifar_test_set_and_label_noise(tmp_path: Path):
    write_cifar10(tmp_path)
    cfg = DataConfig(name="cifar10", root=str(tmp_path), shift_noise_std=0.3, label_noise=0.25)
    data = build_dataset(cfg, 0)
    assert data.shifted_test.x.shape == data.test.x.shape and torch.equal(data.shifted_test.y, data.test.y)
    assert abs((data.shifted_test.x - data.test.x).std().item() - 0.3) < 0.01
    assert data.noisy_labels.sum().item() == 12  # round(0.25 * 48)


def test_missing_root_names_it_and_the_expected_layout(tmp_path: Path):
    missing = tmp_path / "nowhere"
    with pytest.raises(
        DatasetError,
        match=rf"CIFAR-10 root {missing} is not a directory; set data.root to a directory "
        r"that holds cifar-10-batches-bin/ with data_batch_1\.bin",
    ):
        build_dataset(DataConfig(name="cifar10", root=str(missing)), 0)


def test_missing_file_names_the_directory_the_file_and_the_expected_set(tmp_path: Path):
    written = write_cifar10(tmp_path)
    (written.folder / "data_batch_3.bin").unlink()
    with pytest.raises(DatasetError) as caught:
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), 0)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        f"CIFAR-10 directory {written.folder} is missing data_batch_3.bin; expected cifar-10-batches-bin/ with "
        "data_batch_1.bin … data_batch_5.bin and test_batch.bin (the official binary version, cifar-10-binary.tar.gz)"
    )


def test_the_pickled_python_version_is_pointed_out_not_read(tmp_path: Path):
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"\x80\x04not read")
    with pytest.raises(
        DatasetError,
        match=r"missing train\.bin, test\.bin; expected cifar-100-binary/ with train\.bin "
        r"and test\.bin .*found cifar-100-python/, the pickled Python version",
    ):
        build_dataset(DataConfig(name="cifar100", root=str(tmp_path)), 0)


@pytest.mark.parametrize(
    "name, write, victim, record",
    [
        ("cifar10", write_cifar10, "data_batch_2.bin", 3073),
        ("cifar100", write_cifar100, "test.bin", 3074),
    ],
)
def test_truncated_file_names_the_file_and_the_record_size(tmp_path, name, write, victim, record):
    written = write(tmp_path)
    path = written.folder / victim
    path.write_bytes(path.read_bytes()[:-100])
    size = path.stat().st_size
    with pytest.raises(
        DatasetError,
        match=rf"file {path} has {size} bytes, not a positive multiple of the "
        rf"{record}-byte record.*truncated or not the official binary version",
    ):
        build_dataset(DataConfig(name=name, root=str(tmp_path)), 0)


def test_empty_file_is_refused(tmp_path: Path):
    written = write_cifar10(tmp_path)
    (written.folder / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"test_batch\.bin has 0 bytes, not a positive multiple"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), 0)


def test_label_out_of_range_is_refused(tmp_path: Path):
    written = write_cifar10(tmp_path)
    path = written.folder / "data_batch_1.bin"
    raw = bytearray(path.read_bytes())
    raw[2 * 3073] = 200  # the third record's label byte
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"data_batch_1\.bin: record 2 has label 200, outside 0\.\.9"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), 0)
