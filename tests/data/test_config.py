"""DataConfig and SyntheticConfig: the brief's defaults, frozen, and every bad value rejected by name."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pydantic
import pytest

from pipeline.data import DataConfig, SyntheticConfig, list_datasets
from pipeline.data.config import DatasetName


def test_defaults_are_the_briefs():
    cfg = DataConfig()
    assert (cfg.name, cfg.root, cfg.val_fraction, cfg.label_noise) == ("mnist1d", None, 0.2, 0.0)
    assert (cfg.shift_noise_std, cfg.shift_correlation, cfg.augment, cfg.cutout) == (0.0, 0.0, True, 0)
    assert cfg.synthetic.model_dump() == dict(
        n_samples=2000,
        n_features=40,
        n_classes=2,
        n_informative=20,
        n_redundant=10,
        n_repeated=0,
        n_clusters_per_class=2,
        class_sep=1.0,
        flip_y=0.01,
        random_state=42,
    )


def test_list_datasets_matches_the_config_names():
    builtin = ["synthetic", "mnist1d", "digits", "cifar10", "cifar100"]
    assert list_datasets() == builtin and list(get_args(DatasetName)) == [*builtin, "factory"]


def test_frozen_and_no_extra_fields():
    cfg = DataConfig()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        cfg.label_noise = 0.5
    with pytest.raises(pydantic.ValidationError, match="label_nosie"):
        DataConfig(label_nosie=0.1)
    with pytest.raises(pydantic.ValidationError, match="n_sample"):
        SyntheticConfig(n_sample=10)


def test_unknown_name_lists_the_valid_ones():
    valid = r"'synthetic', 'mnist1d', 'digits', 'cifar10' or 'cifar100'"
    with pytest.raises(pydantic.ValidationError, match=r"name\n.*" + valid):
        DataConfig(name="mnist")


def test_a_misspelt_name_offers_the_nearest_valid_one():
    with pytest.raises(pydantic.ValidationError, match=r"unknown dataset 'cifar'.*did you mean 'cifar10'\?"):
        DataConfig(name="cifar")


def test_nested_dict_and_path_root_are_accepted(tmp_path: Path):
    cfg = DataConfig.model_validate({"name": "synthetic", "synthetic": {"n_samples": 300, "class_sep": 2}})
    assert cfg.synthetic.n_samples == 300 and cfg.synthetic.class_sep == 2.0
    assert DataConfig(name="cifar10", root=tmp_path).root == str(tmp_path)


@pytest.mark.parametrize(
    "settings, match",
    [
        (dict(val_fraction=0.0), r"val_fraction must lie strictly between 0 and 1.*got val_fraction=0\.0"),
        (dict(val_fraction=1.0), r"val_fraction=1\.0"),
        (dict(val_fraction=float("nan")), r"val_fraction=nan"),
        (dict(label_noise=1.0), r"label_noise must lie in \[0, 1\).*got 1\.0"),
        (dict(label_noise=-0.1), r"label_noise.*got -0\.1"),
        (dict(shift_noise_std=-1.0), r"shift_noise_std must be a finite number >= 0.*got -1\.0"),
        (dict(shift_noise_std=float("inf")), r"shift_noise_std.*got inf"),
        (dict(shift_correlation=1.5), r"shift_correlation must lie in \[0, 1\].*got 1\.5"),
        (dict(name="cifar10", root="/x", cutout=33), r"cutout must lie in \[0, 32\].*got 33"),
        (dict(name="cifar10", root="/x", cutout=-1), r"cutout.*got -1"),
        (dict(cutout=True), r"cutout\n.*valid integer"),  # strict: a bool is not a size
        (dict(label_noise="0.1"), r"label_noise\n.*valid number"),
        (dict(name="cifar10"), r"root is required for name='cifar10'.*cifar-10-batches-bin/ with data_batch_1\.bin"),
        (dict(name="cifar100"), r"root is required for name='cifar100'.*cifar-100-binary/ with train\.bin"),
        (dict(name="mnist1d", root="/data"), r"root='/data' is read only for cifar10/cifar100.*'mnist1d'; remove it"),
        (dict(name="digits", cutout=8), r"cutout=8 is read only for cifar10/cifar100.*name='digits'"),
        (dict(name="cifar10", root="/x", shift_correlation=0.5), r"shift_correlation applies to tabular datasets"),
        (dict(name="synthetic", val_fraction=0.3), r"val_fraction=0\.3 has no effect for name='synthetic'.*60/20/20"),
        (dict(name="digits", synthetic={"n_samples": 100}), r"synthetic settings apply to name='synthetic' only"),
    ],
)
def test_bad_data_config_names_the_field(settings, match):
    with pytest.raises(pydantic.ValidationError, match=match):
        DataConfig(**settings)


@pytest.mark.parametrize(
    "settings, match",
    [
        (dict(n_classes=1), r"synthetic\.n_classes must be >= 2, got n_classes=1"),
        (dict(n_samples=9), r"n_samples must be at least 5 \* n_classes = 10.*got n_samples=9"),
        (dict(n_features=0), r"synthetic\.n_features must be >= 1"),
        (dict(n_redundant=-1), r"synthetic\.n_redundant must be >= 0"),
        (dict(n_features=25), r"n_informative \+ n_redundant \+ n_repeated = 30 exceeds n_features=25"),
        (
            dict(n_informative=2, n_redundant=0, n_classes=3),
            r"n_classes \* n_clusters_per_class = 6 exceeds 2 \*\* n_informative = 4",
        ),
        (dict(class_sep=0.0), r"synthetic\.class_sep must be a finite number > 0"),
        (dict(flip_y=1.5), r"synthetic\.flip_y must lie in \[0, 1\]"),
        (dict(random_state=-1), r"synthetic\.random_state must lie in \[0, 2\*\*32\)"),
    ],
)
def test_bad_synthetic_config_names_the_field(settings, match):
    with pytest.raises(pydantic.ValidationError, match=match):
        SyntheticConfig(**settings)


def test_explicit_defaults_for_unread_fields_are_harmless():
    # Only settings that would silently do nothing are refused; restating a default is fine.
    cfg = DataConfig(name="digits", val_fraction=0.2, cutout=0, root=None, augment=False, synthetic=SyntheticConfig())
    assert cfg.name == "digits"
