"""Splits as tensors, stratified partitioning of indices, and symmetric label noise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` (float32, first dim = examples) and labels ``y`` (int64, shape (n,))."""

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32 or self.y.dtype != torch.int64:
            raise ValueError(f"Split needs float32 x and int64 y, got x {self.x.dtype} and y {self.y.dtype}")
        if self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split needs x of shape (n, ...) and y of shape (n,), got {tuple(self.x.shape)} and "
                f"{tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return self.y.shape[0]

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class DatasetSplits:
    """Everything a trial needs from its data.

    ``input_shape`` is one example's shape (no batch dim). ``noisy_labels`` is a bool mask over
    ``train`` marking the labels that label noise changed, or None when there is no label noise.
    ``shifted_test`` is the test set under distribution shift, or None when no shift was asked for.
    """

    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...] = ()  # () : one training example's shape
    shifted_test: Split | None = None
    is_image: bool = False
    noisy_labels: Tensor | None = None

    def __post_init__(self) -> None:
        if not self.input_shape:
            object.__setattr__(self, "input_shape", tuple(self.train.x.shape[1:]))
        if self.noisy_labels is not None and (
            self.noisy_labels.dtype != torch.bool or self.noisy_labels.shape != (len(self.train),)
        ):
            raise ValueError(
                f"noisy_labels must be a bool mask of shape ({len(self.train)},), got "
                f"{self.noisy_labels.dtype} of shape {tuple(self.noisy_labels.shape)}"
            )

    def to(self, device: torch.device | str) -> DatasetSplits:
        return replace(
            self,
            train=self.train.to(device),
            val=self.val.to(device),
            test=self.test.to(device),
            shifted_test=None if self.shifted_test is None else self.shifted_test.to(device),
            noisy_labels=None if self.noisy_labels is None else self.noisy_labels.to(device),
        )


@dataclass(frozen=True)
class ArraySplits:
    """What each dataset builder returns: normalised float32 inputs and int64 labels as numpy arrays,
    before label noise and the shifted test set are applied."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    is_image: bool


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Part sizes for ``n`` examples: round(f * n) for each held-out fraction, the rest first (training).

    Raises ValueError when any part would be empty.
    """
    held_out = [round(f * n) for f in fractions]
    sizes = [n - sum(held_out), *held_out]
    if min(sizes) < 1:
        raise ValueError(
            f"splitting {n} examples by held-out fractions {list(fractions)} gives part sizes {sizes}; every part "
            "needs at least one example: use more examples or a fraction further from 0 and 1"
        )
    return sizes


def stratified_partition(labels: np.ndarray, sizes: Sequence[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Partition indices ``0..n-1`` into disjoint parts of exactly ``sizes`` (summing to n), stratified by label.

    Each part takes from every class as nearly its overall share as integers allow (largest remainders,
    exact integer arithmetic); which examples of a class go where is drawn from ``rng``. Returns one
    sorted int64 index array per part.
    """
    labels = np.asarray(labels)
    if sum(sizes) != len(labels) or min(sizes, default=0) < 0:
        raise ValueError(f"part sizes {list(sizes)} must be non-negative and sum to the {len(labels)} examples")
    _, class_of = np.unique(labels, return_inverse=True)
    shuffled = [rng.permutation(np.flatnonzero(class_of == c)) for c in range(class_of.max(initial=-1) + 1)]
    remaining = np.array([len(s) for s in shuffled], dtype=np.int64)
    taken = np.zeros_like(remaining)
    parts = []
    for k, size in enumerate(sizes):
        # The last part takes whatever is left, so every index lands in exactly one part.
        share = remaining.copy() if k == len(sizes) - 1 else _apportion(remaining, size)
        parts.append(
            np.sort(
                np.concatenate(
                    [s[t : t + n] for s, t, n in zip(shuffled, taken, share, strict=False)] or [np.empty(0, np.int64)]
                )
            ).astype(np.int64)
        )
        taken += share
        remaining -= share
    return parts


def _apportion(available: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``available`` (largest-remainder method, ties to lower class)."""
    pool = int(available.sum())
    if total == 0 or pool == 0:
        return np.zeros_like(available)
    share = available * total // pool
    remainder = available * total - share * pool
    short = total - int(share.sum())
    share[np.argsort(-remainder, kind="stable")[:short]] += 1
    return share


def symmetric_label_noise(
    labels: np.ndarray, rate: float, num_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Change exactly round(rate * n) labels, each to a uniformly drawn *different* class.

    Returns (noisy labels, bool mask of the changed positions); ``labels`` is left untouched.
    """
    n_changed = round(rate * len(labels))
    chosen = rng.choice(len(labels), size=n_changed, replace=False)
    noisy = labels.copy()
    # An offset in 1..K-1 modulo K is uniform over the K-1 other classes.
    noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, size=n_changed)) % num_classes
    changed = np.zeros(len(labels), dtype=bool)
    changed[chosen] = True
    return noisy, changed
