"""Typed, frozen data configuration, validated at the door.

Every check raises a message that names the field, the bad value and what would be accepted, so a
wrong study file fails before any data is read. Fields that only one family of datasets reads are
rejected when set to a non-default value for another family: a setting with no effect is a mistake.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from pipeline.data.cifar import CIFAR_FORMATS
from pipeline.references import FactoryArgs, FactoryReference, TakesFactory

DatasetName = Literal["synthetic", "mnist1d", "digits", "cifar10", "cifar100", "factory"]
GENERATED = ("mnist1d", "synthetic")  # datasets drawn from a generator, which can draw a larger test set
FACTORY = "factory"  # the name of a dataset a user's factory builds (``factory: module:attr``)
CIFAR_SIDE = 32

_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True)


class SyntheticConfig(BaseModel):
    """Arguments of ``sklearn.datasets.make_classification``.

    The defaults are the MP-SAM paper's second experiment (2000 samples, 40 features, 2 classes).
    """

    model_config = _FROZEN

    n_samples: int = 2000
    n_features: int = 40
    n_classes: int = 2
    n_informative: int = 20
    n_redundant: int = 10
    n_repeated: int = 0
    n_clusters_per_class: int = 2
    class_sep: float = 1.0
    flip_y: float = 0.01
    random_state: int = 42

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        for name in ("n_features", "n_informative", "n_clusters_per_class"):
            if getattr(self, name) < 1:
                raise ValueError(f"synthetic.{name} must be >= 1, got {name}={getattr(self, name)}")
        for name in ("n_redundant", "n_repeated"):
            if getattr(self, name) < 0:
                raise ValueError(f"synthetic.{name} must be >= 0, got {name}={getattr(self, name)}")
        if self.n_classes < 2:
            raise ValueError(f"synthetic.n_classes must be >= 2, got n_classes={self.n_classes}")
        if self.n_samples < 5 * self.n_classes:
            raise ValueError(
                f"synthetic.n_samples must be at least 5 * n_classes = {5 * self.n_classes} so that every class "
                f"can reach the 60/20/20 train, validation and test parts, got n_samples={self.n_samples}"
            )
        used = self.n_informative + self.n_redundant + self.n_repeated
        if used > self.n_features:
            raise ValueError(
                f"synthetic: n_informative + n_redundant + n_repeated = {used} exceeds n_features={self.n_features}; "
                "raise n_features or lower the others"
            )
        if self.n_classes * self.n_clusters_per_class > 2**self.n_informative:
            raise ValueError(
                f"synthetic: n_classes * n_clusters_per_class = {self.n_classes * self.n_clusters_per_class} "
                f"exceeds 2 ** n_informative = {2**self.n_informative} (the hypercube's vertices); "
                "raise n_informative or lower the others"
            )
        if not (math.isfinite(self.class_sep) and self.class_sep > 0):
            raise ValueError(f"synthetic.class_sep must be a finite number > 0, got class_sep={self.class_sep}")
        if not 0.0 <= self.flip_y <= 1.0:
            raise ValueError(f"synthetic.flip_y must lie in [0, 1], got flip_y={self.flip_y}")
        if not 0 <= self.random_state < 2**32:
            raise ValueError(f"synthetic.random_state must lie in [0, 2**32), got random_state={self.random_state}")
        return self


class DataConfig(TakesFactory):
    """Which dataset to build and how to split, corrupt and augment it.

    ``val_fraction`` applies to mnist1d and CIFAR (carved out of the official training part);
    synthetic and digits always use a stratified 60/20/20 split. ``augment`` and ``cutout`` act on
    CIFAR training batches only (see ``augment_batch``); ``augment`` is ignored elsewhere.
    """

    model_config = _FROZEN

    name: DatasetName = "mnist1d"
    root: str | None = None
    val_fraction: float = 0.2
    label_noise: float = 0.0
    shift_noise_std: float = 0.0
    shift_correlation: float = 0.0
    augment: bool = True
    cutout: int = 0
    synthetic: SyntheticConfig = SyntheticConfig()
    # A generated test set of this many examples in place of the standard one (mnist1d and synthetic only).
    test_size: int | None = Field(default=None, ge=10)
    # A user's dataset: ``module:attr``, called as fn(seed=..., **args) -> DatasetSplits (see pipeline.data.factory).
    factory: FactoryReference = None
    args: FactoryArgs = Field(default_factory=dict)

    @field_validator("name", mode="before")
    @classmethod
    def _known_dataset(cls, name: Any) -> Any:
        valid = [n for n in get_args(DatasetName) if n != FACTORY]
        if isinstance(name, str) and name not in (*valid, FACTORY):  # not a string: left to the type check
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            names = ", ".join(map(repr, valid[:-1])) + f" or {valid[-1]!r}"
            raise ValueError(
                f"unknown dataset {name!r}; valid names: {names} (or factory: module:attr for your own){hint}"
            )
        return name

    _LEFT_OUT_WHEN_UNSET = ("test_size",)

    @model_validator(mode="after")
    def _generated_test_set(self) -> DataConfig:
        if self.test_size is not None and self.name not in GENERATED:
            raise ValueError(
                f"test_size: a generated test set needs a generated dataset ({' or '.join(GENERATED)}), not "
                f"{self.name!r}; a data factory of your own returns as large a test split as it likes"
            )
        return self

    def __hash__(self) -> int:  # args is a dict: hash the settings as JSON
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))

    @field_validator("root", mode="before")
    @classmethod
    def _path_to_str(cls, value: Any) -> Any:
        # A pathlib.Path is as good as a string here; strict mode would otherwise refuse it.
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("val_fraction")
    @classmethod
    def _check_val_fraction(cls, value: float) -> float:
        if not 0.0 < value < 1.0:
            raise ValueError(
                f"val_fraction must lie strictly between 0 and 1 (the share of the training part held out "
                f"for validation), got val_fraction={value}"
            )
        return value

    @field_validator("label_noise")
    @classmethod
    def _check_label_noise(cls, value: float) -> float:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"label_noise must lie in [0, 1) (the share of training labels changed), got {value}")
        return value

    @field_validator("shift_noise_std")
    @classmethod
    def _check_shift_noise_std(cls, value: float) -> float:
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"shift_noise_std must be a finite number >= 0 (0 = no noise), got {value}")
        return value

    @field_validator("shift_correlation")
    @classmethod
    def _check_shift_correlation(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"shift_correlation must lie in [0, 1] (0 = no correlation change), got {value}")
        return value

    @field_validator("cutout")
    @classmethod
    def _check_cutout(cls, value: int) -> int:
        if not 0 <= value <= CIFAR_SIDE:
            raise ValueError(
                f"cutout must lie in [0, {CIFAR_SIDE}] (side of the square in pixels, 0 = off), got {value}"
            )
        return value

    @model_validator(mode="after")
    def _factory_alone(self) -> DataConfig:
        if (self.name == FACTORY) != (self.factory is not None):
            raise ValueError("name: factory needs factory: module:attr, and a factory needs no other name; remove name")
        if self.factory is None:
            if self.args:
                raise ValueError("args are the arguments of a data factory; set factory: module:attr, or remove args")
            return self
        others = (k for k in DataConfig.model_fields if k not in ("name", "factory", "args"))
        changed = [k for k in others if getattr(self, k) != DataConfig.model_fields[k].default]
        if changed:
            raise ValueError(
                f"{changed[0]} applies to the built-in datasets only; a data factory builds its own splits "
                f"(pass what it needs in args); remove {changed[0]}"
            )
        return self

    @model_validator(mode="after")
    def _check_fields_fit_dataset(self) -> DataConfig:
        is_cifar = self.name in CIFAR_FORMATS
        if is_cifar and self.root is None:
            raise ValueError(
                f"root is required for name={self.name!r}: set it to a directory holding "
                f"{CIFAR_FORMATS[self.name].expected}, or to that folder itself"
            )
        if not is_cifar:
            for field, value, default in (
                ("root", self.root, None),
                ("cutout", self.cutout, 0),
            ):
                if value != default:
                    raise ValueError(
                        f"{field}={value!r} is read only for cifar10/cifar100 and has no effect for "
                        f"name={self.name!r}; remove it"
                    )
        if is_cifar and self.shift_correlation != 0.0:
            raise ValueError(
                f"shift_correlation applies to tabular datasets (synthetic, digits, mnist1d) only, not "
                f"name={self.name!r}; use shift_noise_std for a shifted CIFAR test set"
            )
        if self.name in ("synthetic", "digits") and self.val_fraction != 0.2:
            raise ValueError(
                f"val_fraction={self.val_fraction} has no effect for name={self.name!r}, which always uses a "
                "stratified 60/20/20 train/validation/test split; remove it"
            )
        if self.name != "synthetic" and self.synthetic != SyntheticConfig():
            raise ValueError(
                f"the synthetic settings apply to name='synthetic' only, not name={self.name!r}; remove them"
            )
        return self
