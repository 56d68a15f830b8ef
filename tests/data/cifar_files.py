"""Writes tiny CIFAR archives in the official binary record format, for the reader's tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Written:
    folder: Path
    train_labels: np.ndarray  # (n,) the labels the reader should return (CIFAR-100: the fine ones)
    train_pixels: np.ndarray  # (n, 3, 32, 32) uint8, all training files concatenated in order
    test_labels: np.ndarray
    test_pixels: np.ndarray


def _record_bytes(label_bytes: list[int], image: np.ndarray) -> bytes:
    # Channel-major: the 1024 red bytes (row by row), then the green, then the blue.
    planes = [image[c].reshape(-1) for c in range(3)]
    return bytes(label_bytes) + np.concatenate(planes).astype(np.uint8).tobytes()


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def write_cifar10(root: Path, per_file: int = 12, n_test: int = 10, seed: int = 0) -> Written:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    labels, pixels = [], []
    for i in range(1, 6):
        y, x = rng.integers(0, 10, size=per_file), _images(rng, per_file)
        (folder / f"data_batch_{i}.bin").write_bytes(
            b"".join(_record_bytes([label], im) for label, im in zip(y, x, strict=False))
        )
        labels.append(y)
        pixels.append(x)
    y_test, x_test = rng.integers(0, 10, size=n_test), _images(rng, n_test)
    (folder / "test_batch.bin").write_bytes(
        b"".join(_record_bytes([label], im) for label, im in zip(y_test, x_test, strict=False))
    )
    return Written(folder, np.concatenate(labels), np.concatenate(pixels), y_test, x_test)


def write_cifar100(root: Path, n_train: int = 60, n_test: int = 10, seed: int = 0) -> Written:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-binary"
    folder.mkdir(parents=True)

    def write(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        fine, x = rng.integers(0, 100, size=n), _images(rng, n)
        coarse = 19 - fine // 5  # deliberately unlike the fine label, so reading the wrong byte shows
        (folder / name).write_bytes(
            b"".join(_record_bytes([c, f], im) for c, f, im in zip(coarse, fine, x, strict=False))
        )
        return fine, x

    y, x = write("train.bin", n_train)
    y_test, x_test = write("test.bin", n_test)
    return Written(folder, y, x, y_test, x_test)
