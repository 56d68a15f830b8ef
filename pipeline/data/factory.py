"""A user's dataset: ``data: {factory: "my_ext:make_data", args: {...}}``.

The factory is called as ``fn(seed=<int>, **args)`` and returns a ``DatasetSplits`` (train, val and test as
``Split(x, y)``: float32 inputs, int64 labels; ``num_classes``; optionally ``input_shape``, ``shifted_test`` and
``is_image``). The seed decides the split and any randomness of the data: the same seed must give the same data.
``check_factory_dataset`` holds a factory to that contract at the door, before anything runs.
"""

from __future__ import annotations

import torch

from pipeline.data.config import DataConfig
from pipeline.data.splits import DatasetSplits, Split
from pipeline.references import ReferenceProblem, check_call, resolve

SEED_KEYWORD = ("seed",)


def build_factory_dataset(cfg: DataConfig, seed: int) -> DatasetSplits:
    """The factory's splits for ``seed``, on the CPU; ``ReferenceProblem`` if it returns anything else."""
    assert cfg.factory is not None
    factory = resolve(cfg.factory)
    splits = factory(seed=seed, **cfg.args)
    if not isinstance(splits, DatasetSplits):
        raise ReferenceProblem(
            f"{cfg.factory} returned a {type(splits).__name__}; a data factory returns pipeline.data.DatasetSplits"
        )
    return splits.to("cpu")


def check_factory_dataset(cfg: DataConfig, seed: int) -> None:
    """Everything a trial would trip on, raised now as ``ReferenceProblem``: the reference, its arguments, what it
    returns (type, empty or mismatched splits, labels outside ``num_classes``), and whether one seed gives one
    dataset (two calls compared)."""
    assert cfg.factory is not None
    check_call(resolve(cfg.factory), cfg.factory, SEED_KEYWORD, cfg.args)
    try:
        first = build_factory_dataset(cfg, seed)
    except ReferenceProblem:
        raise
    except Exception as error:  # the user's error, named and chained
        raise ReferenceProblem(f"{cfg.factory}(seed={seed}, ...) raised {error!r}") from error
    _check_splits(cfg.factory, first)
    again = build_factory_dataset(cfg, seed)
    for name, split in _named(first).items():
        other = _named(again)[name]
        if not (torch.equal(split.x, other.x) and torch.equal(split.y, other.y)):
            raise ReferenceProblem(
                f"{cfg.factory} gave different {name} data in two calls with seed={seed}; draw every random "
                "number from a generator seeded with the seed argument (e.g. numpy.random.default_rng(seed))"
            )


def _named(splits: DatasetSplits) -> dict[str, Split]:
    named = {"train": splits.train, "val": splits.val, "test": splits.test}
    return named if splits.shifted_test is None else {**named, "shifted_test": splits.shifted_test}


def _check_splits(reference: str, splits: DatasetSplits) -> None:
    if not isinstance(splits.num_classes, int) or splits.num_classes < 2:
        raise ReferenceProblem(f"{reference}: num_classes must be an int >= 2, got {splits.num_classes!r}")
    shape = tuple(splits.input_shape)
    for name, split in _named(splits).items():
        if len(split) == 0:
            raise ReferenceProblem(f"{reference}: the {name} split is empty; every split needs examples")
        if tuple(split.x.shape[1:]) != shape:
            raise ReferenceProblem(
                f"{reference}: {name} inputs have shape {tuple(split.x.shape[1:])} per example, input_shape is {shape}"
            )
        low, high = int(split.y.min()), int(split.y.max())
        if low < 0 or high >= splits.num_classes:
            raise ReferenceProblem(
                f"{reference}: {name} labels run from {low} to {high}, outside 0..{splits.num_classes - 1} "
                f"(num_classes={splits.num_classes})"
            )
        if not torch.isfinite(split.x).all():
            raise ReferenceProblem(f"{reference}: {name} inputs hold NaN or infinite values")
