"""CIFAR-10 and CIFAR-100 from the official *binary* archives, read with numpy only (never unpickled).

Record layouts (one after another, no header):
  CIFAR-10  cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin: 1 label byte + 3072 pixel bytes;
  CIFAR-100 cifar-100-binary/{train,test}.bin: coarse label byte, fine label byte, 3072 pixel bytes.
Pixels are channel-major (1024 red, 1024 green, 1024 blue), each channel row-major 32x32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data.errors import DatasetError
from pipeline.data.splits import ArraySplits, split_sizes, stratified_partition

IMAGE_SHAPE = (3, 32, 32)
_PIXEL_BYTES = 3 * 32 * 32


@dataclass(frozen=True)
class CifarFormat:
    title: str
    folder: str
    pickled_folder: str  # the Python version's folder, named in errors because it is the usual mix-up
    archive: str
    train_files: tuple[str, ...]
    test_file: str
    label_bytes: int  # label bytes before the pixels of each record
    label_index: int  # which of them is the label we use (CIFAR-100: 1 = the fine label)
    num_classes: int

    @property
    def record_bytes(self) -> int:
        return self.label_bytes + _PIXEL_BYTES

    @property
    def expected(self) -> str:
        if len(self.train_files) > 1:
            listing = f"{self.train_files[0]} … {self.train_files[-1]} and {self.test_file}"
        else:
            listing = f"{self.train_files[0]} and {self.test_file}"
        return f"{self.folder}/ with {listing} (the official binary version, {self.archive})"


CIFAR_FORMATS = {
    "cifar10": CifarFormat(
        "CIFAR-10",
        "cifar-10-batches-bin",
        "cifar-10-batches-py",
        "cifar-10-binary.tar.gz",
        tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test_batch.bin",
        label_bytes=1,
        label_index=0,
        num_classes=10,
    ),
    "cifar100": CifarFormat(
        "CIFAR-100",
        "cifar-100-binary",
        "cifar-100-python",
        "cifar-100-binary.tar.gz",
        ("train.bin",),
        "test.bin",
        label_bytes=2,
        label_index=1,
        num_classes=100,
    ),
}


def build_cifar(name: str, root: str, val_fraction: float, rng: np.random.Generator) -> ArraySplits:
    """Read ``name``'s archive under ``root``; hold out a stratified ``val_fraction`` of the training
    images (drawn from ``rng``) and normalise every channel with the training split's mean and std."""
    fmt = CIFAR_FORMATS[name]
    directory = locate_cifar(fmt, root)
    pool = [read_cifar_file(directory / f, fmt) for f in fmt.train_files]
    y_pool = np.concatenate([labels for labels, _ in pool])
    x_pool = np.concatenate([pixels for _, pixels in pool])
    y_test, x_test = read_cifar_file(directory / fmt.test_file, fmt)
    train, val = stratified_partition(y_pool, split_sizes(len(y_pool), [val_fraction]), rng)
    x_train = x_pool[train]
    mean, std = _channel_mean_std(x_train)

    def normalise(pixels: np.ndarray) -> np.ndarray:
        x = pixels.astype(np.float32)
        x -= mean
        x /= std
        return x

    return ArraySplits(
        normalise(x_train),
        y_pool[train],
        normalise(x_pool[val]),
        y_pool[val],
        normalise(x_test),
        y_test,
        num_classes=fmt.num_classes,
        input_shape=IMAGE_SHAPE,
        is_image=True,
    )


def locate_cifar(fmt: CifarFormat, root: str) -> Path:
    """The folder holding ``fmt``'s files: ``root/<folder>`` when it exists, else ``root`` itself."""
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise DatasetError(
            f"{fmt.title} root {root_path} is not a directory; set data.root to a directory that holds {fmt.expected}"
        )
    nested = root_path / fmt.folder
    directory = nested if nested.is_dir() else root_path
    missing = [f for f in (*fmt.train_files, fmt.test_file) if not (directory / f).is_file()]
    if missing:
        hint = ""
        if (root_path / fmt.pickled_folder).is_dir() or root_path.name == fmt.pickled_folder:
            hint = f"; found {fmt.pickled_folder}/, the pickled Python version, which is never read"
        raise DatasetError(
            f"{fmt.title} directory {directory} is missing {', '.join(missing)}; expected {fmt.expected}{hint}"
        )
    return directory


def check_cifar(name: str, root: str) -> None:
    """``DatasetError`` unless every file of ``name`` is under ``root`` and holds whole records: sizes only, no
    pixel is read, so a study checks its data in milliseconds before it starts anything."""
    fmt = CIFAR_FORMATS[name]
    directory = locate_cifar(fmt, root)
    for file in (*fmt.train_files, fmt.test_file):
        _check_size(directory / file, fmt)


def _check_size(path: Path, fmt: CifarFormat) -> None:
    size = path.stat().st_size
    if size == 0 or size % fmt.record_bytes:
        raise DatasetError(
            f"{fmt.title} file {path} has {size} bytes, not a positive multiple of the {fmt.record_bytes}-byte record "
            f"({fmt.label_bytes} label byte(s) + {_PIXEL_BYTES} pixel bytes); it is truncated or not the official "
            f"binary version: download {fmt.archive} again"
        )


def read_cifar_file(path: Path, fmt: CifarFormat) -> tuple[np.ndarray, np.ndarray]:
    """(labels int64 of shape (n,), pixels uint8 of shape (n, 3, 32, 32)) from one binary file."""
    _check_size(path, fmt)
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, fmt.record_bytes)
    labels = records[:, fmt.label_index].astype(np.int64)
    bad = np.flatnonzero(labels >= fmt.num_classes)
    if bad.size:
        raise DatasetError(
            f"{fmt.title} file {path}: record {bad[0]} has label {labels[bad[0]]}, outside 0..{fmt.num_classes - 1}; "
            f"the file is not the official binary version: download {fmt.archive} again"
        )
    return labels, records[:, fmt.label_bytes :].reshape(-1, *IMAGE_SHAPE)


def _channel_mean_std(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images (n, 3, H, W), shaped (3, 1, 1) as float32.

    Computed exactly from 256-bin histograms: no float copy of the whole training set is needed.
    """
    values = np.arange(256, dtype=np.float64)
    mean, std = np.empty(3), np.empty(3)
    for c in range(3):
        counts = np.bincount(pixels[:, c].ravel(), minlength=256).astype(np.float64)
        mean[c] = counts @ values / counts.sum()
        std[c] = np.sqrt(counts @ (values - mean[c]) ** 2 / counts.sum())
    std = np.where(std > 0, std, 1.0)  # a constant channel (only in toy files) stays finite
    return mean.astype(np.float32).reshape(3, 1, 1), std.astype(np.float32).reshape(3, 1, 1)
