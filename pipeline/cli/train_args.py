"""Command-line flags for every TrialConfig field, generated from the typed configs.

Flags are only set when given (``argparse.SUPPRESS``), so the config's own defaults and presets apply.
Data fields take ``--<field>`` (``--dataset`` for the name), model fields likewise (``--model``),
nested synthetic-data fields ``--synthetic-<field>``, and the optimizer's hyperparameters ``--rho``,
``--n-perturbations``, ... from the registry.
"""

from __future__ import annotations

import argparse
import collections.abc
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.data import DataConfig, SyntheticConfig, list_datasets
from pipeline.models import ModelConfig, list_models
from pipeline.optim import hyperparameter_types, list_optimizers
from pipeline.train.config import TrialConfig

# TrialConfig fields that the flags below set differently.
_NESTED = {"data", "model", "hparams"}
_RENAMED = {("data", "name"): "dataset", ("data", "root"): "data-root", ("model", "name"): "model"}


def add_trial_arguments(parser: argparse.ArgumentParser) -> None:
    top = parser.add_argument_group("trial")
    _add_fields(top, TrialConfig, path=(), skip=_NESTED)
    data = parser.add_argument_group("data")
    _add_fields(data, DataConfig, path=("data",), skip={"synthetic"})
    _add_fields(data, SyntheticConfig, path=("data", "synthetic"), flag_prefix="synthetic-")
    model = parser.add_argument_group("model")
    _add_fields(model, ModelConfig, path=("model",))
    hyper = parser.add_argument_group("optimizer hyperparameters (each goes to the layer that takes it)")
    for name, kind in _hyperparameter_kinds().items():
        _add_flag(hyper, name.replace("_", "-"), ("hparams", name), kind, help=None)


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


def _add_fields(group, model: type[BaseModel], path: tuple[str, ...], skip=frozenset(), flag_prefix: str = "") -> None:
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        flag = _RENAMED.get((*path, name), flag_prefix + name.replace("_", "-"))
        _add_flag(group, flag, (*path, name), info.annotation, help=info.description)


def _add_flag(group, flag: str, path: tuple[str, ...], annotation: Any, help: str | None) -> None:
    dest = "cfg." + ".".join(path)
    kwargs: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help}
    choices = _choices(path, annotation)
    base = _strip_optional(annotation)
    if base is bool:
        group.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, **kwargs)
        return
    if typing.get_origin(base) in (tuple, list, collections.abc.Sequence):
        item = typing.get_args(base)[0]
        kwargs["type"] = lambda text, item=item: [item(v) for v in text.split(",") if v.strip()]
        kwargs["metavar"] = "A,B,..."
    elif choices is not None:
        kwargs["choices"] = choices
    elif base in (int, float, str):
        kwargs["type"] = base
    else:
        kwargs["type"] = str
    if _is_optional(annotation) and base is not str:
        convert = kwargs.get("type", str)
        kwargs["type"] = lambda text, convert=convert: None if text.lower() == "none" else convert(text)
    group.add_argument(f"--{flag}", **kwargs)


def _choices(path: tuple[str, ...], annotation: Any) -> list[str] | None:
    known = {("data", "name"): list_datasets, ("model", "name"): list_models, ("optimizer",): list_optimizers}
    if path in known:
        return known[path]()
    base = _strip_optional(annotation)
    if typing.get_origin(base) is Literal:
        return list(typing.get_args(base))
    return None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


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
