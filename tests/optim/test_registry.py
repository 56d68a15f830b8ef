"""The registry as data: what each entry says about itself, and the functions upper layers ask."""

from __future__ import annotations

import inspect

import pytest
import torch

import pipeline.optim as po
from pipeline.optim import (
    REGISTRY,
    TRAINER_SET,
    create_optimizer,
    default_hyperparameters,
    description,
    hyperparameter_names,
    hyperparameter_types,
    inner_of,
    learns_rho,
    list_optimizers,
    set_by_trainer,
    trainer_hyperparameters,
    validate_hyperparameters,
)

NAMES = list_optimizers()
LETS_NAMES = ["lets-sam", "lets-asam", "lets-fsam", "lets-xsam", "lets-mpsam"]


def test_lets_variants_name_the_rule_they_wrap():
    assert {name: inner_of(name) for name in NAMES if learns_rho(name)} == {
        "lets-sam": "sam",
        "lets-asam": "asam",
        "lets-fsam": "fsam",
        "lets-xsam": "xsam",
        "lets-mpsam": "mpsam",
    }
    for name in NAMES:
        variant = REGISTRY[name]
        assert variant.learns_rho == learns_rho(name) == (inner_of(name) is not None)
        if learns_rho(name):
            inner = REGISTRY[inner_of(name)]
            assert not inner.learns_rho and inner.rule is variant.rule
            assert inner.set_by_trainer == variant.set_by_trainer


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_describes_itself_in_one_line(name):
    text = description(name)
    assert text and "\n" not in text and len(text) < 120


@pytest.mark.parametrize("name", NAMES)
def test_trainer_set_names_are_rule_keywords_the_user_never_sets(name):
    variant = REGISTRY[name]
    keys = set_by_trainer(name)
    assert keys <= set(TRAINER_SET)
    if keys:
        assert keys <= set(inspect.signature(variant.rule).parameters)
    assert not keys & set(hyperparameter_names(name))
    assert not keys & set(default_hyperparameters(name))
    assert set(hyperparameter_types(name)) == set(hyperparameter_names(name))


def test_what_the_trainer_sets():
    gen = torch.Generator()
    assert set_by_trainer("xsam") == set_by_trainer("lets-xsam") == {"search_every"}
    assert set_by_trainer("mpsam") == set_by_trainer("lets-mpsam") == {"generator"}
    assert trainer_hyperparameters("xsam", steps_per_epoch=13, generator=gen) == {"search_every": 13}
    assert trainer_hyperparameters("lets-mpsam", steps_per_epoch=13, generator=gen) == {"generator": gen}
    for name in ("sgd", "sam", "asam", "fsam", "lets-sam"):
        assert trainer_hyperparameters(name, steps_per_epoch=13, generator=gen) == {}
    params = [torch.nn.Parameter(torch.zeros(2))]
    built = {
        name: create_optimizer(name, params, lr=0.1, **trainer_hyperparameters(name, steps_per_epoch=7, generator=gen))
        for name in ("lets-xsam", "mpsam")
    }
    assert built["lets-xsam"].inner.search_every == 7
    assert built["mpsam"].generator is gen


@pytest.mark.parametrize(
    "name, key, value", [("xsam", "search_every", 3), ("lets-xsam", "search_every", 3), ("mpsam", "generator", 0)]
)
def test_a_user_may_not_set_what_the_trainer_sets(name, key, value):
    with pytest.raises(ValueError, match=rf"hparams\.{key} is set by the trainer to .*; remove it"):
        validate_hyperparameters(name, {key: value})


def test_an_unknown_hyperparameter_error_lists_what_a_user_may_set():
    with pytest.raises(ValueError, match="does not take sigma") as refused:
        create_optimizer("mpsam", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, sigma=0.5)
    assert str(refused.value).endswith("it takes: adaptive, n_perturbations, rho, strategy")


def test_validation_builds_nothing_from_the_global_rng():
    state = torch.get_rng_state()
    for name in NAMES:
        validate_hyperparameters(name, {})
    assert torch.equal(state, torch.get_rng_state())


def test_the_package_exports_the_registry_queries():
    for name in ("set_by_trainer", "inner_of", "learns_rho", "description", "trainer_hyperparameters"):
        assert name in po.__all__
