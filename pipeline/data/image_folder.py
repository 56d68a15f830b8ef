"""A local image-folder dataset (the ``ImageFolder`` layout), as a data factory::

    data: {factory: "pipeline.data.image_folder:image_folder", args: {root: /data/pets, size: 32}}

``root/<class>/<image>``: one folder per class, classes in sorted order; PNG, JPEG, BMP, GIF or WebP images are
decoded with Pillow (never unpickled), converted to RGB (or grey, ``channels: 1``), resized to ``size`` x ``size``,
and standardised per channel with the training split's mean and std. The seed draws a stratified split into
training, validation and test parts (``val_fraction``, ``test_fraction``), as the built-in tabular datasets do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.data.splits import DatasetSplits, Split, split_sizes, stratified_partition
from pipeline.seeding import check_seed, data_stream

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def image_folder(
    seed: int,
    root: str,
    size: int = 32,
    channels: int = 3,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> DatasetSplits:
    """The images under ``root`` as float32 tensors of shape (channels, size, size), split by ``seed``."""
    if channels not in (1, 3) or size < 1:
        raise ValueError(f"channels must be 1 or 3 and size >= 1, got channels={channels}, size={size}")
    files, labels, classes = _listing(Path(root).expanduser())
    x = np.stack([_decode(f, size, channels) for f in files])
    sizes = split_sizes(len(files), (val_fraction, test_fraction))
    train, val, test = stratified_partition(labels, sizes, data_stream(check_seed(seed), "split"))
    mean = x[train].mean(axis=(0, 2, 3), keepdims=True)
    std = x[train].std(axis=(0, 2, 3), keepdims=True) + 1e-6
    x = (x - mean) / std

    def split(index: np.ndarray) -> Split:
        return Split(torch.from_numpy(np.ascontiguousarray(x[index])), torch.from_numpy(labels[index]))

    return DatasetSplits(split(train), split(val), split(test), num_classes=len(classes), is_image=True)


def _listing(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    if not root.is_absolute():  # a trial runs in a working folder of Ray's own
        raise ValueError(f"root must be an absolute path, got {str(root)!r}")
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder; image_folder reads root/<class>/<image>")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [(f, c) for c, name in enumerate(classes) for f in sorted((root / name).iterdir())
             if f.suffix.lower() in SUFFIXES]  # fmt: skip
    if len(classes) < 2 or not files:
        raise ValueError(f"{root} needs at least two class folders holding images ({', '.join(sorted(SUFFIXES))})")
    return [f for f, _ in files], np.array([c for _, c in files], dtype=np.int64), classes


def _decode(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image  # Pillow decodes the image formats themselves: nothing is unpickled

    with Image.open(path) as image:
        pixels = image.convert("RGB" if channels == 3 else "L").resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(pixels, dtype=np.float32) / 255.0
    return array.reshape(size, size, channels).transpose(2, 0, 1)
