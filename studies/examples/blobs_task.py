"""A task of one's own for sam-study: a data factory and a model factory (see docs/tasks.md).

own_task.yaml names them as ``blobs_task:make_blobs`` and ``blobs_task:make_net``; this folder, the study file's,
is importable, and Ray ships it to every worker.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from pipeline.data import DatasetSplits, Split


def make_blobs(seed: int, n: int = 600, classes: int = 3, dim: int = 8, spread: float = 1.0) -> DatasetSplits:
    """Gaussian blobs around ``classes`` random centres, split 60/20/20. Every draw comes from ``seed``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, size=(classes, dim))
    y = rng.integers(0, classes, size=n)
    x = centres[y] + rng.normal(size=(n, dim))
    order = rng.permutation(n)
    x, y = torch.from_numpy(x[order].astype(np.float32)), torch.from_numpy(y[order].astype(np.int64))
    train, val = int(0.6 * n), int(0.8 * n)
    return DatasetSplits(
        train=Split(x[:train], y[:train]),
        val=Split(x[train:val], y[train:val]),
        test=Split(x[val:], y[val:]),
        num_classes=classes,
    )


def make_net(input_shape: tuple[int, ...], num_classes: int, width: int = 32) -> nn.Module:
    """A one-hidden-layer MLP with BatchNorm (whose statistics SAM must move once per step)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), width),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.Linear(width, num_classes),
    )
