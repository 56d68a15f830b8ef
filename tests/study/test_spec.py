"""StudySpec: every study file in the repo loads, a bad one fails at the door naming the file, the field and
the problem, and a good one means what it says."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pipeline.optim import list_optimizers
from pipeline.spec.study import StudySpec, StudySpecError, load_study, parse_study
from pipeline.spec.suite import is_suite

REPO = Path(__file__).resolve().parents[2]
# Suite files (a mapping with tasks:) are checked in test_suite_spec.py.
STUDY_FILES = sorted(p for p in REPO.glob("studies/*.yaml") if not is_suite(yaml.safe_load(p.read_text())))
SOURCE = "studies/quick.yaml"
QUICK_RAW = yaml.safe_load((REPO / SOURCE).read_text())
DELETE = object()  # an edit value: remove the key


def _node(raw: Any, part: str) -> Any:
    """``"training"`` -> ``raw["training"]``; ``"methods[sam]"`` -> the method named ``sam``."""
    key, _, name = part.rstrip("]").partition("[")
    node = raw[key]
    return next(m for m in node if m["name"] == name) if name else node


def quick(edits: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of ``studies/quick.yaml``'s mapping with ``edits`` applied: each key is a dotted path
    (``"methods[sam].search.rho"``) and each value the new value, or ``DELETE``."""
    raw = copy.deepcopy(QUICK_RAW)
    for path, value in (edits or {}).items():
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = _node(node, part)
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return raw


def parse(edits: dict[str, Any] | None = None) -> StudySpec:
    return parse_study(quick(edits), SOURCE)


# ---------------------------------------------------------------------------------------------------------
# Every study in the repo


def test_the_repo_has_study_files() -> None:
    assert REPO / SOURCE in STUDY_FILES


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.name)
def test_every_study_file_loads(path: Path) -> None:
    spec = load_study(path)
    assert spec.reference in [m.name for m in spec.methods]
    assert len(spec.evaluation.seed_list) >= 2


# ---------------------------------------------------------------------------------------------------------
# Bad input: StudySpecError naming the file, the field and the problem

RANGE = {"low": 0.01, "high": 1.0, "log": True}

BAD_EDITS = [
    # unknown keys, at the top and nested
    pytest.param({"colour": "blue"}, "colour", "unknown key", id="unknown-top-level-key"),
    pytest.param(
        {"training.epoch": 40},
        "training.epoch",
        "unknown key",
        id="unknown-training-key",
    ),
    pytest.param(
        {"methods[sam].search": DELETE, "methods[sam].serch": {"rho": RANGE}},
        "methods[sam].serch",
        "unknown key",
        id="unknown-method-key",
    ),
    pytest.param(
        {"methods[sam].search.rho.hi": 2.0},
        "methods[sam].search.rho.hi",
        "unknown key",
        id="unknown-range-key",
    ),
    # wrong types
    pytest.param(
        {"training.epochs": "many"},
        "training.epochs",
        "valid integer",
        id="epochs-string",
    ),
    pytest.param(
        {"training.epochs": 3.5},
        "training.epochs",
        "fractional part",
        id="epochs-fraction",
    ),
    pytest.param({"evaluation.seeds": "0,1"}, "evaluation.seeds", "'0,1'", id="seeds-string"),
    pytest.param(
        {"methods[sam].hparams": [0.05]},
        "methods[sam].hparams",
        "valid dictionary",
        id="hparams-list",
    ),
    # rho <= 0, fixed and searched
    pytest.param(
        {"methods[sam].hparams": {"rho": 0}},
        "methods[sam].hparams",
        "rho must be > 0",
        id="rho-zero",
    ),
    pytest.param(
        {"methods[asam].hparams": {"rho": -0.5}},
        "methods[asam].hparams",
        "rho must be > 0",
        id="rho-negative",
    ),
    pytest.param(
        {"methods[lets-sam].hparams": {"rho": 0}},
        "methods[lets-sam].hparams",
        "rho must be > 0",
        id="lets-rho-zero",
    ),
    pytest.param(
        {"methods[sam].search.rho": {"low": 0, "high": 1.0, "log": True}},
        "methods[sam].search.rho",
        "log-uniform range needs low > 0",
        id="rho-log-range-from-zero",
    ),
    pytest.param(
        {"methods[sam].search.rho": {"low": -1, "high": 1}},
        "methods[sam].search.rho",
        "rho must be > 0 everywhere in its range",
        id="rho-range-below-zero",
    ),
    # seeds
    pytest.param({"evaluation.seeds": [0]}, "evaluation.seeds", "at least 2", id="one-seed"),
    pytest.param(
        {"evaluation.seeds": [0, 1, 1]},
        "evaluation.seeds",
        "seeds must be distinct",
        id="duplicate-seeds",
    ),
    pytest.param(
        {"evaluation.seeds": [-1, 0]},
        "evaluation.seeds",
        "seeds must be >= 0",
        id="negative-seed",
    ),
    # methods and the reference
    pytest.param(
        {"reference": "adam"},
        "reference",
        "'adam' is not one of the methods",
        id="reference-not-a-method",
    ),
    pytest.param(
        {"methods[sgd].name": "adam"},
        "methods[adam].optimizer",
        "valid optimizers: " + ", ".join(list_optimizers()),
        id="unknown-method-name",
    ),
    pytest.param(
        {"methods[sgd].optimizer": "adam"},
        "methods[sgd].optimizer",
        "valid optimizers: " + ", ".join(list_optimizers()),
        id="unknown-optimizer",
    ),
    pytest.param(
        {"methods[sgd].name": "sam"},
        "methods",
        "names must be unique; repeated: sam",
        id="duplicate-method-names",
    ),
    pytest.param({"methods[sam].lr": 0}, "methods[sam].lr", "greater than 0", id="method-lr-zero"),
    # what a method may search
    pytest.param(
        {"methods[lets-sam].search": {"rho": RANGE}},
        "methods[lets-sam].search.rho",
        "learns its radius",
        id="lets-searches-rho",
    ),
    pytest.param(
        {"methods[sam].search.sigma": {"low": 0.1, "high": 0.9}},
        "methods[sam].search.sigma",
        "has no hyperparameter 'sigma'",
        id="search-key-the-optimizer-lacks",
    ),
    # the shape of a searched value
    pytest.param(
        {"methods[sam].search.rho": {"low": 1.0, "high": 0.5}},
        "methods[sam].search.rho",
        "low must be below high",
        id="range-low-above-high",
    ),
    pytest.param(
        {"methods[sam].search.rho": {"low": 0.5, "high": 0.5}},
        "methods[sam].search.rho",
        "low must be below high",
        id="range-low-equals-high",
    ),
    pytest.param(
        {"methods[sam].search.rho": {"choices": [0.1]}},
        "methods[sam].search.rho",
        "at least two values",
        id="one-choice",
    ),
    pytest.param(
        {"methods[sam].search.rho": {"choices": [0.1, 0.2], "low": 0.1, "high": 0.2}},
        "methods[sam].search.rho",
        "not both",
        id="choices-and-range",
    ),
    pytest.param(
        {"methods[sam].search.rho": {}},
        "methods[sam].search.rho",
        "needs low and high",
        id="empty-search",
    ),
    # hyperparameters the optimizer itself rejects, fixed or at a bound of a search
    pytest.param(
        {"methods[fsam].hparams": {"sigma": 2}},
        "methods[fsam].hparams",
        "sigma must lie in [0, 1]",
        id="fsam-sigma-2",
    ),
    pytest.param(
        {"methods[mpsam].hparams": {"n_perturbations": 0}},
        "methods[mpsam].hparams",
        "n_perturbations must be an integer >= 1",
        id="mpsam-no-perturbations",
    ),
    pytest.param(
        {"methods[mpsam].search": {"n_perturbations": {"low": 0, "high": 4}}},
        "methods[mpsam].search.n_perturbations",
        "0 fails: n_perturbations must be an integer >= 1",
        id="mpsam-perturbation-range-from-zero",
    ),
    pytest.param(
        {"methods[sam].hparams": {"sigma": 0.5}},
        "methods[sam].hparams",
        "does not take sigma",
        id="sam-sigma",
    ),
    pytest.param(
        {"methods[sam].search.momentum": {"low": 0.5, "high": 1.0}},
        "methods[sam].search.momentum",
        "1.0 fails",
        id="momentum-range-to-one",
    ),
    # resources and the run's budget
    pytest.param(
        {"resources.gpu": 1.5},
        "resources.gpu",
        "whole number of devices",
        id="gpu-fraction-above-one",
    ),
    pytest.param({"resources.cpu": -1}, "resources.cpu", "greater than 0", id="negative-cpu"),
    pytest.param(
        {"tuning.trials": 0},
        "tuning.trials",
        "greater than or equal to 1",
        id="no-trials",
    ),
    pytest.param(
        {"max_concurrent": 0},
        "max_concurrent",
        "greater than or equal to 1",
        id="max-concurrent-zero",
    ),
    pytest.param({"retries": -1}, "retries", "greater than or equal to 0", id="negative-retries"),
    pytest.param({"statistics.metric": "accuracy"}, "statistics.metric", "'test_accuracy'", id="unknown-metric"),
    pytest.param({"statistics.alpha": 0.5e1}, "statistics.alpha", "less than 1", id="alpha-above-one"),
    pytest.param({"statistics.correction": "bonferroni"}, "statistics.correction", "'holm'", id="unknown-correction"),
    pytest.param({"workers_per_trial": 0}, "workers_per_trial", "greater than or equal to 1", id="no-workers"),
    pytest.param(
        {"workers_per_trial": 100}, "workers_per_trial", "fewer than 2 examples each", id="batch-too-small-to-split"
    ),
    pytest.param({"training.perturbation": "m"}, "training.perturbation", "'global'", id="unknown-perturbation"),
    pytest.param({"training.precision": "fp8"}, "training.precision", "'fp16'", id="unknown-precision"),
    pytest.param({"training.clip_grad_norm": -1.0}, "training.clip_grad_norm", "greater than 0", id="negative-clip"),
    pytest.param({"training.accumulate": 0}, "training.accumulate", "greater than or equal to 1", id="no-micro-batch"),
    pytest.param({"training.accumulate": 100}, "training.accumulate", "fewer than 2", id="micro-batches-too-small"),
    pytest.param({"statistics.alternative": "greater"}, "statistics.alternative", "'better'", id="bad-alternative"),
]


# A misspelt name or key: the field, and the nearest valid name
MISSPELT = [
    pytest.param({"methods[fsam].name": "fsma"}, "methods[fsma].optimizer", "fsam", id="method-name"),
    pytest.param({"methods[sgd].optimizer": "samm"}, "methods[sgd].optimizer", "sam", id="optimizer"),
    pytest.param({"training": DELETE, "trainig": QUICK_RAW["training"]}, "trainig", "training", id="top-level-key"),
    pytest.param({"training.epoch": 40}, "training.epoch", "epochs", id="training-key"),
    pytest.param({"methods[sam].search.rho.hi": 2.0}, "methods[sam].search.rho.hi", "high", id="range-key"),
    pytest.param({"data.name": "mnist"}, "data.name", "mnist1d", id="dataset"),
    pytest.param({"model": {"name": "mpl"}}, "model.name", "mlp", id="model"),
    pytest.param({"model.preset": "mnist1d_cn"}, "model.preset", "mnist1d_cnn", id="model-preset"),
    pytest.param({"training.schedule": "cosin"}, "training.schedule", "cosine", id="choice"),
    pytest.param({"reference": "sgdd"}, "reference", "sgd", id="reference"),
    pytest.param({"methods[sam].hparams": {"rhoo": 0.1}}, "methods[sam].hparams", "rho", id="hyperparameter"),
    pytest.param({"methods[sam].search": {"rhoo": RANGE}}, "methods[sam].search.rhoo", "rho", id="searched-key"),
]


@pytest.mark.parametrize(("edits", "field", "nearest"), MISSPELT)
def test_a_misspelt_name_or_key_offers_the_nearest_valid_one(edits: dict[str, Any], field: str, nearest: str) -> None:
    with pytest.raises(StudySpecError) as raised:
        parse(edits)
    message = str(raised.value)
    assert f"{field}: " in message, message
    assert f"did you mean '{nearest}'?" in message, message


def test_an_unknown_key_with_no_near_name_says_so() -> None:
    with pytest.raises(StudySpecError, match="colour: unknown key; remove it"):
        parse({"colour": "blue"})


@pytest.mark.parametrize(("edits", "field", "hint"), BAD_EDITS)
def test_bad_field_is_rejected_naming_file_field_and_problem(edits: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(StudySpecError) as raised:
        parse(edits)
    message = str(raised.value)
    assert message.startswith(f"{SOURCE}: "), message
    assert hint in message, message
    assert f"{field}: " in message, message


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- name: quick\n- name: other\n", "list"), ("", "NoneType"), ("quick\n", "str")],
)
def test_a_root_that_is_not_a_mapping_is_rejected(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(StudySpecError, match=f"must be a mapping of fields, got {kind}") as raised:
        load_study(path)
    assert str(raised.value).startswith(f"{path}: ")


def test_malformed_yaml_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: quick\nmethods: [sam, asam\nreference: sam\n")
    with pytest.raises(StudySpecError, match="not valid YAML") as raised:
        load_study(path)
    assert str(raised.value).startswith(f"{path}: ")


def test_a_missing_file_is_rejected_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(StudySpecError, match="no such study file") as raised:
        load_study(path)
    assert str(raised.value).startswith(f"{path}: ")


# ---------------------------------------------------------------------------------------------------------
# Good input: what a valid study means


def test_optimizer_defaults_to_the_method_name() -> None:
    spec = parse()
    assert all("optimizer" not in m for m in QUICK_RAW["methods"])
    assert [m.optimizer for m in spec.methods] == [m.name for m in spec.methods]


def test_a_labelled_method_runs_its_named_optimizer() -> None:
    raw = quick()
    raw["methods"].append({"name": "mpsam-adaptive", "optimizer": "mpsam", "hparams": {"adaptive": True}})
    spec = parse_study(raw, SOURCE)
    method = spec.method("mpsam-adaptive")
    assert method.optimizer == "mpsam"
    config = spec.trial_config(method, seed=1)
    assert (config.optimizer, config.hparams) == ("mpsam", {"adaptive": True})


def test_trial_config_lays_searched_values_over_fixed_ones() -> None:
    spec = parse(
        {
            "methods[fsam].hparams": {"rho": 0.05, "sigma": 0.5},
            "methods[fsam].lr": 0.02,
            "methods[fsam].search.lr": {"low": 0.01, "high": 1.0, "log": True},
        }
    )
    method = spec.method("fsam")
    params = {"rho": 0.2, "lr": 0.3}

    fixed = spec.trial_config(method, seed=2)
    searched = spec.trial_config(method, seed=7, params=params)

    assert (fixed.hparams, fixed.lr, fixed.seed) == (
        {"rho": 0.05, "sigma": 0.5},
        0.02,
        2,
    )
    assert (searched.hparams, searched.lr, searched.seed) == (
        {"rho": 0.2, "sigma": 0.5},
        0.3,
        7,
    )
    assert params == {"rho": 0.2, "lr": 0.3}  # the caller's dict is left alone
    assert searched.optimizer == "fsam"
    assert searched.device == "cpu"
    shared = ("epochs", "momentum", "weight_decay", "batch_size", "schedule")
    assert {k: getattr(searched, k) for k in shared} == {k: getattr(spec.training, k) for k in shared}


def test_trial_config_takes_the_shared_lr_unless_the_method_sets_one() -> None:
    spec = parse({"methods[asam].lr": 0.02})
    assert spec.trial_config(spec.method("sam"), seed=0).lr == spec.training.lr == 0.1
    assert spec.trial_config(spec.method("asam"), seed=0).lr == 0.02


@pytest.mark.parametrize(
    ("name", "tuned", "learns_rho"),
    [
        ("sgd", False, False),
        ("sam", True, False),
        ("lets-sam", False, True),
        ("lets-mpsam", False, True),
    ],
)
def test_tuned_and_learns_rho(name: str, tuned: bool, learns_rho: bool) -> None:
    method = parse().method(name)
    assert (method.tuned, method.learns_rho) == (tuned, learns_rho)


def test_integer_bounds_make_an_integer_range() -> None:
    spec = parse({"methods[mpsam].search.n_perturbations": {"low": 2, "high": 6}})
    search = spec.method("mpsam").search
    assert search["n_perturbations"].integer
    assert search["n_perturbations"].values() == (2, 6)
    assert all(type(v) is int for v in search["n_perturbations"].values())
    assert not search["rho"].integer


@pytest.mark.parametrize(
    "edits",
    [
        {"output.dir": "elsewhere"},
        {"output.tracking_uri": "sqlite:///x.db"},
        {"retries": 3},
        {"max_concurrent": 2},
        {"statistics.correction": "bh"},
        {"statistics.test": "wilcoxon"},
    ],
    ids=lambda e: next(iter(e)),
)
def test_comparable_dump_ignores_bookkeeping(edits: dict[str, Any]) -> None:
    assert parse(edits).comparable_dump() == parse().comparable_dump()


@pytest.mark.parametrize(
    "edits",
    [
        {"tuning.trials": 9},
        {"evaluation.seeds": {"start": 3, "step": 2, "max": 7}},
        {"evaluation.margin": 0.01},
        {"training.epochs": 5},
        {"methods[sam].search.rho.high": 2.0},
    ],
    ids=lambda e: next(iter(e)),
)
def test_comparable_dump_sees_what_decides_the_results(edits: dict[str, Any]) -> None:
    assert parse(edits).comparable_dump() != parse().comparable_dump()


FIXED_SEEDS = {"evaluation.seeds": [0, 1, 2], "evaluation.margin": DELETE}


@pytest.mark.parametrize(
    "edits", [{"statistics.alpha": 0.01}, {"statistics.metric": "test_loss"}], ids=lambda e: next(iter(e))
)
def test_the_metric_and_alpha_decide_the_results_of_sequential_seeds_only(edits: dict[str, Any]) -> None:
    # They decide which seeds a sequential study runs (studies/quick.yaml's seeds are rounds); a list runs them all.
    assert parse(edits).comparable_dump() != parse().comparable_dump()
    assert parse({**FIXED_SEEDS, **edits}).comparable_dump() == parse(FIXED_SEEDS).comparable_dump()


def test_the_spec_is_frozen() -> None:
    spec = parse()
    for model, field, value in [
        (spec, "reference", "sgd"),
        (spec.tuning, "trials", 1),
        (spec.evaluation, "seeds", (5, 6)),
        (spec.method("sam"), "optimizer", "asam"),
    ]:
        with pytest.raises(ValidationError, match="frozen"):
            setattr(model, field, value)
    assert spec.reference == "sam" and spec.tuning.trials == QUICK_RAW["tuning"]["trials"]
