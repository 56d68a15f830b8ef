"""Datasets by name, split into train/validation/test, with optional label noise and a shifted test set.

``build_dataset(DataConfig(...), seed)`` is the entry point; ``augment_batch`` augments CIFAR training
batches on their device. This package imports torch, numpy, pydantic, scikit-learn and mnist1d only,
nothing else of ``pipeline`` but its seeding and references modules.
A user's dataset comes by ``factory: module:attr`` (``pipeline.data.factory``).
"""

from pipeline.data.augment import augment_batch
from pipeline.data.config import DataConfig, SyntheticConfig
from pipeline.data.errors import DatasetError
from pipeline.data.registry import build_dataset, check_dataset, list_datasets
from pipeline.data.splits import DatasetSplits, Split

__all__ = [
    "DataConfig",
    "DatasetError",
    "DatasetSplits",
    "Split",
    "SyntheticConfig",
    "augment_batch",
    "build_dataset",
    "check_dataset",
    "list_datasets",
]
