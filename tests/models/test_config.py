"""ModelConfig: defaults, presets (explicit fields win), round trips, and rejected values."""

from __future__ import annotations

from typing import get_args

import pydantic
import pytest

from pipeline.models import PRESETS, ModelConfig, ModelName, PresetName, list_models


def test_defaults_are_the_specified_ones():
    cfg = ModelConfig()
    assert (cfg.name, cfg.preset, cfg.hidden, cfg.dropout, cfg.batchnorm) == ("mlp", None, (256, 256), 0.0, False)
    assert (cfg.residual, cfg.channels, cfg.depth, cfg.width) == (False, 25, 16, 8)


def test_names_and_presets_agree_with_the_registries():
    assert list_models() == ["mlp", "cnn1d", "resnet18", "wrn"]
    assert list(get_args(ModelName)) == [*list_models(), "factory"]  # a user's own model, by import string
    assert sorted(PRESETS) == sorted(get_args(PresetName))
    for preset in PRESETS.values():  # every preset value is itself a valid field value
        ModelConfig(**preset)


def test_frozen_and_extra_fields_forbidden():
    cfg = ModelConfig()
    with pytest.raises(pydantic.ValidationError):
        cfg.dropout = 0.5
    with pytest.raises(pydantic.ValidationError, match="hidden_size"):
        ModelConfig(hidden_size=100)


@pytest.mark.parametrize(
    "preset, expected",
    [
        ("mpsam_mlp", dict(name="mlp", hidden=(50, 25), dropout=0.2, batchnorm=False, residual=False)),
        ("mnist1d_mlp", dict(name="mlp", hidden=(100, 100), dropout=0.0, batchnorm=False, residual=True)),
        ("mnist1d_cnn", dict(name="cnn1d", channels=25)),
    ],
)
def test_preset_sets_its_fields(preset, expected):
    cfg = ModelConfig(preset=preset)
    assert cfg.preset == preset
    assert {key: getattr(cfg, key) for key in expected} == expected


def test_explicit_fields_win_over_the_preset():
    cfg = ModelConfig(preset="mpsam_mlp", dropout=0.0, batchnorm=True)
    assert (cfg.dropout, cfg.batchnorm, cfg.hidden) == (0.0, True, (50, 25))
    # an explicit value equal to the field's default still wins
    assert ModelConfig(preset="mnist1d_mlp", hidden=(64, 64)).hidden == (64, 64)
    assert ModelConfig(preset="mnist1d_cnn", channels=8).channels == 8
    assert ModelConfig(preset="mnist1d_cnn", name="cnn1d").name == "cnn1d"


def test_a_name_contradicting_the_preset_is_rejected():
    with pytest.raises(ValueError, match=r"name='wrn' contradicts preset='mnist1d_cnn', which builds a 'cnn1d'"):
        ModelConfig(preset="mnist1d_cnn", name="wrn")


@pytest.mark.parametrize(
    "fields, nearest",
    [
        ({"name": "mpl"}, "mlp"),
        ({"preset": "mnist1d_cn"}, "mnist1d_cnn"),
        ({"preset": "mpsam_mlp", "name": "mpl"}, "mlp"),
    ],
)
def test_a_misspelt_name_or_preset_offers_the_nearest_valid_one(fields, nearest):
    # A misspelt name beside a preset is a misspelling, not a contradiction of the preset.
    with pytest.raises(pydantic.ValidationError, match=rf"did you mean '{nearest}'\?"):
        ModelConfig(**fields)


def test_an_override_that_breaks_the_preset_is_rejected():
    # mnist1d_mlp is residual: its hidden widths must stay equal
    with pytest.raises(ValueError, match=r"residual=True needs .* got hidden=\(64, 32\)"):
        ModelConfig(preset="mnist1d_mlp", hidden=(64, 32))


@pytest.mark.parametrize(
    "cfg", [ModelConfig(), ModelConfig(preset="mpsam_mlp", dropout=0.1), ModelConfig(name="wrn", depth=28, width=10)]
)
def test_round_trips_through_dict_and_json(cfg):
    assert ModelConfig.model_validate(cfg.model_dump()) == cfg
    assert ModelConfig.model_validate_json(cfg.model_dump_json()) == cfg


def test_yaml_lists_become_tuples_and_configs_hash():
    cfg = ModelConfig.model_validate({"name": "mlp", "hidden": [32, 16]})
    assert cfg.hidden == (32, 16)
    assert hash(cfg) == hash(ModelConfig(hidden=(32, 16)))
    assert ModelConfig(hidden=()).hidden == ()  # logistic regression


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dropout=1.0), r"dropout must lie in \[0, 1\), got dropout=1\.0"),
        (dict(dropout=-0.1), r"dropout=-0\.1"),
        (dict(hidden=(50, 0)), r"hidden widths must be >= 1, got hidden=\(50, 0\)"),
        (dict(channels=0), r"channels must be >= 1, got channels=0"),
        (dict(width=0), r"width must be >= 1, got width=0"),
        (dict(depth=15), r"depth must be 6n \+ 4 .* got depth=15"),
        (dict(depth=4), r"depth=4"),
        (dict(residual=True, hidden=(50,)), r"residual=True needs at least two equal hidden widths"),
        (dict(residual=True, hidden=(50, 25)), r"hidden=\(50, 25\)"),
        (dict(name="vgg"), r"name\n.*'mlp', 'cnn1d', 'resnet18' or 'wrn'"),
        (dict(preset="mnist_mlp"), r"preset\n.*'mpsam_mlp', 'mnist1d_mlp' or 'mnist1d_cnn'"),
    ],
)
def test_bad_values_raise_value_error_naming_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)
