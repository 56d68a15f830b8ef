"""Command-line flags for every TrialConfig field, generated from the typed configs.

Flags are only set when given (``argparse.SUPPRESS``), so the config's own defaults and presets apply.
Data fields take ``--<field>`` (``--dataset`` for the name), model fields likewise (``--model``),
nested synthetic-data fields ``--synthetic-<field>``, and the optimizer's hyperparameters ``--rho``,
``--n-perturbations``, ... from the registry. ``flag_paths`` maps each config path back to its flag, for errors.
"""

from __future__ import annotations

import argparse
import collections.abc
import functools
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pipeline.data import DataConfig, SyntheticConfig, list_datasets
from pipeline.models import ModelConfig, list_models
from pipeline.optim import hyperparameter_types, list_optimizers
from pipeline.spec.suggest import did_you_mean, strip_optional
from pipeline.train.config import TrialConfig

# TrialConfig fields that the flags below set differently.
_NESTED = {"data", "model", "hparams"}
_RENAMED = {("data", "name"): "dataset", ("data", "root"): "data-root", ("model", "name"): "model"}
_GROUPS = {
    "trial": "trial",
    "data": "data",
    "model": "model",
    "hparams": "optimizer hyperparameters (each goes to the layer that takes it)",
}


def add_trial_arguments(parser: argparse.ArgumentParser) -> None:
    groups = {key: parser.add_argument_group(title) for key, title in _GROUPS.items()}
    for path, annotation, help in _fields():
        group = groups[path[0] if len(path) > 1 else "trial"]
        _add_flag(group, flag_for(path), path, annotation, help)


def flag_for(path: tuple[str, ...]) -> str:
    """The flag that sets a TrialConfig path: ``('hparams', 'rho')`` -> ``--rho``, ``('data', 'name')`` ->
    ``--dataset``, ``('data', 'synthetic', 'n_samples')`` -> ``--synthetic-n-samples``."""
    prefix = "synthetic-" if path[:2] == ("data", "synthetic") else ""
    return "--" + _RENAMED.get(path, prefix + path[-1].replace("_", "-"))


@functools.cache
def flag_paths() -> dict[tuple[str, ...], str]:
    """Every TrialConfig path that has a flag, with the flag."""
    return {path: flag_for(path) for path, _, _ in _fields()}


def _fields() -> Iterator[tuple[tuple[str, ...], Any, str | None]]:
    """(path, annotation, help) of every flag, in --help order."""
    for scope, model, skip in (
        ((), TrialConfig, _NESTED),
        # A user's factories come through a study file (their folders must be shipped), not train's flags.
        (("data",), DataConfig, {"synthetic", "factory", "args"}),
        (("data", "synthetic"), SyntheticConfig, set()),
        (("model",), ModelConfig, {"factory", "args"}),
    ):
        for name, info in model.model_fields.items():
            if name not in skip:
                yield (*scope, name), info.annotation, info.description
    for name, kind in _hyperparameter_kinds().items():
        yield ("hparams", name), kind, None


def trial_config_from_args(args: argparse.Namespace) -> TrialConfig:
    """The nested dict the flags describe, validated into a TrialConfig (pydantic errors name the field)."""
    values: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if not dest.startswith("cfg."):
            continue
        node = values
        *parents, leaf = dest.split(".")[1:]
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return TrialConfig.model_validate(values)


def _add_flag(group, flag: str, path: tuple[str, ...], annotation: Any, help: str | None) -> None:
    # The dest is the config path; the metavar is set, or argparse would show the path (CFG.HPARAMS.RHO).
    kwargs: dict[str, Any] = {"dest": "cfg." + ".".join(path), "default": argparse.SUPPRESS, "help": help}
    choices = _choices(path, annotation)
    base = strip_optional(annotation)
    if base is bool:
        group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        return
    kwargs["metavar"] = path[-1].upper()
    if typing.get_origin(base) in (tuple, list, collections.abc.Sequence):
        kwargs["type"] = _comma_list(typing.get_args(base)[0])
        kwargs["metavar"] = "A,B,..."
    elif choices is not None:
        # Checked here rather than by argparse's choices=, so that a misspelt name gets the nearest valid one.
        kwargs["type"] = _choice(choices)
        kwargs["metavar"] = "{" + ",".join(choices) + "}"
    elif base in (int, float, str):
        kwargs["type"] = base
    else:
        kwargs["type"] = str
    if _is_optional(annotation) and base is not str:
        kwargs["type"] = _or_none(kwargs["type"])
    group.add_argument(flag, **kwargs)


def _choice(choices: list[str]) -> Callable[[str], str]:
    def name(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {text!r}{did_you_mean(text, choices)} (choose from {', '.join(choices)})"
            )
        return text

    return name


def _comma_list(item: type) -> Callable[[str], list[Any]]:
    def comma_list(text: str) -> list[Any]:
        return [item(v) for v in text.split(",") if v.strip()]

    return comma_list


def _or_none(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def or_none(text: str) -> Any:
        return None if text.lower() == "none" else convert(text)

    or_none.__name__ = convert.__name__  # argparse names the type in "invalid int value: 'x'"
    return or_none


def _choices(path: tuple[str, ...], annotation: Any) -> list[str] | None:
    known = {("data", "name"): list_datasets, ("model", "name"): list_models, ("optimizer",): list_optimizers}
    if path in known:
        return known[path]()
    base = strip_optional(annotation)
    if typing.get_origin(base) is Literal:
        return list(typing.get_args(base))
    return None


def _is_optional(annotation: Any) -> bool:
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return is_union and type(None) in typing.get_args(annotation)


def _hyperparameter_kinds() -> dict[str, Any]:
    """Every hyperparameter a user may set for some registry optimizer, with the type its constructor declares."""
    kinds: dict[str, Any] = {}
    for optimizer in list_optimizers():
        for name, kind in hyperparameter_types(optimizer).items():
            kinds.setdefault(name, kind)
    return dict(sorted(kinds.items()))
