"""``build_dataset``: dataset builders by name, then the steps every dataset shares.

Each builder turns (config, split generator) into normalised ``ArraySplits``; label noise, the
shifted test set and the conversion to tensors happen here, once, for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import numpy as np
import torch

from pipeline.data.cifar import CIFAR_FORMATS, build_cifar, check_cifar
from pipeline.data.config import FACTORY, DataConfig, DatasetName
from pipeline.data.factory import build_factory_dataset, check_factory_dataset
from pipeline.data.shift import shifted_inputs
from pipeline.data.splits import ArraySplits, DatasetSplits, Split, symmetric_label_noise
from pipeline.data.tabular import build_digits, build_mnist1d, build_synthetic
from pipeline.seeding import check_seed, data_stream

Builder = Callable[[DataConfig, np.random.Generator], ArraySplits]

BUILDERS: dict[str, Builder] = {
    "synthetic": build_synthetic,
    "mnist1d": build_mnist1d,
    "digits": build_digits,
    "cifar10": lambda cfg, rng: build_cifar("cifar10", cfg.root, cfg.val_fraction, rng),
    "cifar100": lambda cfg, rng: build_cifar("cifar100", cfg.root, cfg.val_fraction, rng),
}
assert set(BUILDERS) | {FACTORY} == set(get_args(DatasetName)), "every DataConfig name needs a builder"


def list_datasets() -> list[str]:
    """The built-in datasets (a user's own comes by ``factory: module:attr``)."""
    return list(BUILDERS)


def check_dataset(cfg: DataConfig) -> None:
    """Raise ``DatasetError`` naming the file and the fix when ``cfg``'s files on disk are missing or truncated,
    without building the dataset: a study calls it before it starts anything. The other built-in datasets are made
    in memory, so only CIFAR has files to check. A user's factory is called (twice, seed 0) and held to its contract;
    its problems raise ``ReferenceProblem``."""
    if cfg.factory is not None:
        check_factory_dataset(cfg, seed=0)
    elif cfg.name in CIFAR_FORMATS:
        assert cfg.root is not None  # DataConfig requires it for CIFAR
        check_cifar(cfg.name, cfg.root)


def build_dataset(cfg: DataConfig, seed: int) -> DatasetSplits:
    """Build ``cfg``'s dataset for ``seed``; tensors are on the CPU (use ``.to(device)``).

    Deterministic given (cfg, seed). The seed decides the train/validation(/test) split, which
    training labels the noise changes and to what, and the shift noise, each from its own stream
    (see ``pipeline.seeding``): the split does not move when label_noise or the shift settings change.
    No global random state is read or changed.
    """
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"build_dataset needs a DataConfig, got {type(cfg).__name__}; use DataConfig(**settings)")
    seed = check_seed(seed)
    if cfg.factory is not None:
        return build_factory_dataset(cfg, seed)
    arrays = BUILDERS[cfg.name](cfg, data_stream(seed, "split"))

    y_train, noisy_labels = arrays.y_train, None
    if cfg.label_noise > 0.0:
        y_train, changed = symmetric_label_noise(
            arrays.y_train, cfg.label_noise, arrays.num_classes, data_stream(seed, "label_noise")
        )
        noisy_labels = torch.from_numpy(changed)

    shifted_test = None
    if cfg.shift_noise_std > 0.0 or cfg.shift_correlation > 0.0:
        x_shifted = shifted_inputs(
            arrays.x_test,
            arrays.x_train,
            noise_std=cfg.shift_noise_std,
            correlation=cfg.shift_correlation,
            rng=data_stream(seed, "shift"),
        )
        shifted_test = _split(x_shifted, arrays.y_test)

    return DatasetSplits(
        train=_split(arrays.x_train, y_train),
        val=_split(arrays.x_val, arrays.y_val),
        test=_split(arrays.x_test, arrays.y_test),
        shifted_test=shifted_test,
        num_classes=arrays.num_classes,
        input_shape=arrays.input_shape,
        is_image=arrays.is_image,
        noisy_labels=noisy_labels,
    )


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    # from_numpy shares memory (no copy of CIFAR's 600 MB); the arrays here are fresh, never cached ones.
    return Split(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
    )
