"""Registry: optimizer names as data (a variant class plus whether LETS learns its radius).

``create_optimizer`` builds the base optimizer, then the variant, then LETS, and routes every
hyperparameter to the one layer whose constructor takes it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import Optimizer

from pipeline.optim.asam import ASAM
from pipeline.optim.base import SAMFamilyOptimizer
from pipeline.optim.fsam import FSAM
from pipeline.optim.lets import LETS
from pipeline.optim.mpsam import MPSAM
from pipeline.optim.sam import SAM
from pipeline.optim.xsam import XSAM

BASES = ("sgd", "adamw")


@dataclass(frozen=True)
class Variant:
    """One registry entry. ``rule`` is None for plain SGD; ``passes`` maps the rule's hyperparameters
    to forward+backward passes per step (XSAM's forward-only search probes are not counted)."""

    name: str
    rule: type[SAMFamilyOptimizer] | None
    passes: Callable[[Mapping[str, Any]], float]
    learns_rho: bool = False


def _rule_default(rule: type, key: str) -> Any:
    return inspect.signature(rule).parameters[key].default


_RULES: dict[str, Variant] = {
    "sgd": Variant("sgd", None, lambda hp: 1.0),
    "sam": Variant("sam", SAM, lambda hp: 2.0),
    "asam": Variant("asam", ASAM, lambda hp: 2.0),
    "mpsam": Variant(
        "mpsam", MPSAM, lambda hp: 1.0 + hp.get("n_perturbations", _rule_default(MPSAM, "n_perturbations"))
    ),
    "fsam": Variant("fsam", FSAM, lambda hp: 2.0),
    "xsam": Variant("xsam", XSAM, lambda hp: 1.0 + hp.get("steps", _rule_default(XSAM, "steps"))),
}


def _with_lets(variant: Variant) -> Variant:
    def passes(hp: Mapping[str, Any]) -> float:
        return variant.passes(hp) + 1.0 / hp.get("update_every", _rule_default(LETS, "update_every"))

    return Variant(f"lets-{variant.name}", variant.rule, passes, learns_rho=True)


REGISTRY: dict[str, Variant] = {
    **_RULES,
    **{f"lets-{n}": _with_lets(_RULES[n]) for n in ("sam", "asam", "fsam", "xsam", "mpsam")},
}


def list_optimizers() -> list[str]:
    return list(REGISTRY)


def get_variant(name: str) -> Variant:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(REGISTRY)}") from None


def passes_per_step(name: str, **hparams: Any) -> float:
    """Forward+backward passes per optimizer step for ``name`` with these hyperparameters."""
    return get_variant(name).passes(hparams)


def _keywords(cls: type, exclude: set[str]) -> set[str]:
    return {k for k in inspect.signature(cls).parameters if k not in exclude}


_LETS_KEYS = _keywords(LETS, {"inner"})


def create_optimizer(
    name: str,
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
    *,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    base: str = "sgd",
    foreach: bool | None = None,
    **hparams: Any,
) -> Optimizer:
    """Build ``name`` over ``params``: the base optimizer, then the variant, then LETS for ``lets-*``.

    ``base="adamw"`` uses ``momentum`` as Adam's beta1. Under LETS, ``rho_max`` is LETS's upper clip of the
    learned radius (XSAM's probe radius then follows the learned one at ``2 rho``).
    """
    rule_kw, lets_kw = _route(name, hparams)
    variant = get_variant(name)
    base_optimizer = _build_base(base, params, lr, momentum, weight_decay, nesterov, foreach)
    if variant.rule is None:
        return base_optimizer
    rule = variant.rule(base_optimizer, foreach=foreach, **rule_kw)
    return LETS(rule, **lets_kw) if variant.learns_rho else rule


def base_optimizer(optimizer: Optimizer) -> Optimizer:
    """The torch optimizer that takes the final step (where lr lives and schedulers attach)."""
    if isinstance(optimizer, LETS):
        return optimizer.inner.base
    if isinstance(optimizer, SAMFamilyOptimizer):
        return optimizer.base
    return optimizer


def hyperparameter_names(name: str) -> list[str]:
    """The hyperparameters ``name`` takes beyond the base optimizer's (``generator`` and ``foreach`` aside)."""
    variant = get_variant(name)
    keys = _keywords(variant.rule, {"base", "foreach", "generator"}) if variant.rule is not None else set()
    return sorted(keys | (_LETS_KEYS if variant.learns_rho else set()))


def default_hyperparameters(name: str) -> dict[str, Any]:
    """Every hyperparameter ``name`` takes, at its default (what a run with none set uses)."""
    variant = get_variant(name)
    layers = ([variant.rule] if variant.rule is not None else []) + ([LETS] if variant.learns_rho else [])
    names = set(hyperparameter_names(name))
    return {
        key: param.default
        for layer in layers
        for key, param in inspect.signature(layer).parameters.items()
        if key in names
    }


def validate_hyperparameters(name: str, hparams: Mapping[str, Any]) -> None:
    """Raise the ValueError that ``create_optimizer`` would, without touching any model or global RNG."""
    probe = [torch.nn.Parameter(torch.zeros(1))]
    extra = {"generator": torch.Generator()} if get_variant(name).rule is MPSAM and "generator" not in hparams else {}
    create_optimizer(name, probe, lr=0.1, **hparams, **extra)


def _route(name: str, hparams: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``hparams`` into the variant's and LETS's keywords; reject a key no layer takes."""
    variant = get_variant(name)
    rule_keys = _keywords(variant.rule, {"base", "foreach"}) if variant.rule is not None else set()
    lets_keys = _LETS_KEYS if variant.learns_rho else set()
    lets_kw = {k: v for k, v in hparams.items() if k in lets_keys}
    rule_kw = {k: v for k, v in hparams.items() if k not in lets_keys}
    unknown = sorted(k for k in rule_kw if k not in rule_keys)
    if unknown:
        takes = ", ".join(sorted(rule_keys | lets_keys)) or "no hyperparameters beyond the base optimizer's"
        raise ValueError(f"optimizer {name!r} does not take {', '.join(unknown)}; it takes: {takes}")
    return rule_kw, lets_kw


def _build_base(
    base: str,
    params: Iterable[Any],
    lr: float,
    momentum: float,
    weight_decay: float,
    nesterov: bool,
    foreach: bool | None,
) -> Optimizer:
    if base == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov, foreach=foreach
        )
    if base == "adamw":
        if nesterov:
            raise ValueError("nesterov=True applies to base='sgd' only, not to base='adamw'")
        return torch.optim.AdamW(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay, foreach=foreach)
    raise ValueError(f"unknown base optimizer {base!r}; valid bases: {', '.join(BASES)}")
