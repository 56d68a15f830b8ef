"""Registry: optimizer names as data. Each entry says which rule it runs, its passes per step, what it is
(a one-line description), which rule LETS wraps in it, and which of its hyperparameters the trainer sets.

``create_optimizer`` builds the base optimizer, then the variant, then LETS, and routes every
hyperparameter to the one layer whose constructor takes it. Everything above this package asks the
functions here (``learns_rho``, ``inner_of``, ``set_by_trainer``, ``trainer_hyperparameters``, ...) rather
than parsing names or naming a rule's keywords.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import Optimizer

from pipeline.optim.asam import ASAM
from pipeline.optim.base import SAMFamilyOptimizer, did_you_mean
from pipeline.optim.fsam import FSAM
from pipeline.optim.lets import LETS
from pipeline.optim.mpsam import MPSAM
from pipeline.optim.sam import SAM
from pipeline.optim.xsam import XSAM

BASES = ("sgd", "adamw")

TRAINER_SET: dict[str, str] = {
    "search_every": "the steps per epoch, so that XSAM searches alpha on the first step of every epoch, "
    "as the reference training script does",
    "generator": "a torch.Generator on the trial's device seeded from the trial seed, for MP-SAM's random draws",
}
"""Every rule keyword that the trainer sets and a user never does, with what the trainer sets it to."""


@dataclass(frozen=True)
class Variant:
    """One registry entry.

    ``rule`` is None for plain SGD; ``passes`` maps the hyperparameters to forward+backward passes per step
    (XSAM's forward-only search probes are not counted); ``wraps`` is, for a LETS variant, the registry name
    of the rule whose radius it learns; ``set_by_trainer`` names the rule's keywords that the trainer sets
    (keys of :data:`TRAINER_SET`).
    """

    name: str
    rule: type[SAMFamilyOptimizer] | None
    passes: Callable[[Mapping[str, Any]], float]
    description: str
    wraps: str | None = None
    set_by_trainer: tuple[str, ...] = ()

    @property
    def learns_rho(self) -> bool:
        """LETS learns this variant's radius."""
        return self.wraps is not None


def _rule_default(rule: type, key: str) -> Any:
    return inspect.signature(rule).parameters[key].default


def _mpsam_passes(hp: Mapping[str, Any]) -> float:
    return 1.0 + hp.get("n_perturbations", _rule_default(MPSAM, "n_perturbations"))


def _xsam_passes(hp: Mapping[str, Any]) -> float:
    return 1.0 + hp.get("steps", _rule_default(XSAM, "steps"))


_RULES: dict[str, Variant] = {
    "sgd": Variant("sgd", None, lambda hp: 1.0, "the base optimizer alone (SGD with momentum, or AdamW)"),
    "sam": Variant("sam", SAM, lambda hp: 2.0, "SAM, sharpness-aware minimisation (Foret et al., ICLR 2021)"),
    "asam": Variant("asam", ASAM, lambda hp: 2.0, "ASAM, adaptive SAM (Kwon et al., ICML 2021)"),
    "mpsam": Variant(
        "mpsam", MPSAM, _mpsam_passes, "MP-SAM, multi-perturbation SAM (the seed paper)", set_by_trainer=("generator",)
    ),
    "fsam": Variant("fsam", FSAM, lambda hp: 2.0, "F-SAM, Friendly SAM (Li et al., CVPR 2024)"),
    "xsam": Variant(
        "xsam", XSAM, _xsam_passes, "XSAM, explicit SAM (Chen and Zhou, ICLR 2026)", set_by_trainer=("search_every",)
    ),
}


def _with_lets(variant: Variant) -> Variant:
    def passes(hp: Mapping[str, Any]) -> float:
        return variant.passes(hp) + 1.0 / hp.get("update_every", _rule_default(LETS, "update_every"))

    short = variant.description.split(",")[0]
    return Variant(
        f"lets-{variant.name}",
        variant.rule,
        passes,
        f"LETS over {short}: the radius learned by a hypergradient (Wang, Jiang, Fu, Zhang, 2024)",
        wraps=variant.name,
        set_by_trainer=variant.set_by_trainer,
    )


REGISTRY: dict[str, Variant] = {
    **_RULES,
    **{f"lets-{n}": _with_lets(_RULES[n]) for n in ("sam", "asam", "fsam", "xsam", "mpsam")},
}


BUILT_IN = frozenset(REGISTRY)


def register_rule(name: str, rule: type) -> None:
    """Make a user's SAM-family rule available under ``name``, and LETS over it as ``lets-<name>``.

    ``rule`` subclasses :class:`SAMFamilyOptimizer`, takes the base optimizer first, its hyperparameters as keywords
    (``rho`` among them) and ``foreach``, implements ``_compute_update`` as the shipped rules do, and declares its
    forward+backward passes per step as ``passes_per_step``: an int class attribute, or a class method of the
    hyperparameters (every one of them, defaults filled in). Registering the same class again changes nothing.
    Raises ValueError naming what is missing."""
    if name in BUILT_IN or name.startswith("lets-"):
        raise ValueError(f"{name!r} is a shipped optimizer's name (or a lets- name); give the rule a name of its own")
    if not (isinstance(rule, type) and issubclass(rule, SAMFamilyOptimizer)):
        what = rule.__name__ if isinstance(rule, type) else type(rule).__name__
        raise ValueError(f"{what} is not a subclass of pipeline.optim.SAMFamilyOptimizer")
    if REGISTRY.get(name) is not None and REGISTRY[name].rule is rule:
        return
    params = inspect.signature(rule).parameters
    if "rho" not in params or "foreach" not in params:
        raise ValueError(f"{rule.__name__}'s constructor must take rho and foreach keywords, as the shipped rules do")
    doc = (inspect.getdoc(rule) or f"{rule.__name__}, a user's rule").splitlines()[0]
    variant = Variant(name, rule, _declared_passes(rule), doc)
    REGISTRY[name] = variant
    REGISTRY[f"lets-{name}"] = _with_lets(variant)


def _declared_passes(rule: type) -> Callable[[Mapping[str, Any]], float]:
    declared = inspect.getattr_static(rule, "passes_per_step", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 1:
        return lambda hp: float(declared)
    method = getattr(rule, "passes_per_step", None)
    if isinstance(declared, classmethod) and callable(method):
        defaults = {k: p.default for k, p in inspect.signature(rule).parameters.items() if k not in ("base", "foreach")}
        return lambda hp: float(method({**defaults, **hp}))
    raise ValueError(
        f"{rule.__name__} declares no passes_per_step: set the class attribute passes_per_step = 2 (forward+backward "
        "passes per step), or a class method passes_per_step(hparams) when they depend on the hyperparameters"
    )


def list_optimizers() -> list[str]:
    return list(REGISTRY)


def get_variant(name: str) -> Variant:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown optimizer {name!r}; valid names: {', '.join(REGISTRY)}{did_you_mean(name, REGISTRY)}"
        ) from None


def learns_rho(name: str) -> bool:
    """Whether ``name`` learns its radius (a LETS variant)."""
    return get_variant(name).learns_rho


def inner_of(name: str) -> str | None:
    """For a LETS variant, the registry name of the rule it wraps (``lets-sam`` -> ``sam``); None otherwise."""
    return get_variant(name).wraps


def description(name: str) -> str:
    """One line on what ``name`` is (the paper or idea)."""
    return get_variant(name).description


def set_by_trainer(name: str) -> frozenset[str]:
    """The hyperparameters of ``name`` that the trainer sets (see :data:`TRAINER_SET`): never a user's, never
    in :func:`hyperparameter_names`, and not recorded as a trial's hyperparameters."""
    return frozenset(get_variant(name).set_by_trainer)


def trainer_hyperparameters(name: str, *, steps_per_epoch: int, generator: torch.Generator) -> dict[str, Any]:
    """What the trainer passes to ``create_optimizer`` besides the user's hyperparameters, from what only it
    knows: ``steps_per_epoch`` and a ``generator`` seeded from the trial (on the parameters' device).
    Empty for a variant that needs neither."""
    known = {"search_every": steps_per_epoch, "generator": generator}
    return {key: known[key] for key in get_variant(name).set_by_trainer}


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
    """Build ``name`` over ``params``: the base optimizer, then the variant, then LETS for a LETS variant.

    ``hparams`` are the user's (:func:`hyperparameter_names`) plus, from a trainer, those of
    :func:`trainer_hyperparameters` (a rule left without them uses its own defaults).

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


def _layers(name: str) -> list[type]:
    """The classes whose keywords ``name``'s hyperparameters are: its rule, and LETS for a LETS variant."""
    variant = get_variant(name)
    return ([variant.rule] if variant.rule is not None else []) + ([LETS] if variant.learns_rho else [])


def hyperparameter_names(name: str) -> list[str]:
    """The hyperparameters a user may set for ``name`` beyond the base optimizer's (``foreach`` and the ones
    the trainer sets aside)."""
    not_users = {"base", "inner", "foreach", *set_by_trainer(name)}
    return sorted({key for layer in _layers(name) for key in _keywords(layer, not_users)})


def hyperparameter_types(name: str) -> dict[str, Any]:
    """Each of :func:`hyperparameter_names` with the type its constructor declares (``str`` if none)."""
    names = set(hyperparameter_names(name))
    types: dict[str, Any] = {}
    for layer in _layers(name):
        hints = typing.get_type_hints(layer.__init__)
        for key in inspect.signature(layer).parameters:
            if key in names:
                types.setdefault(key, hints.get(key, str))
    return dict(sorted(types.items()))


def default_hyperparameters(name: str) -> dict[str, Any]:
    """Every hyperparameter a user may set for ``name``, at its default (what a run with none set uses)."""
    names = set(hyperparameter_names(name))
    return {
        key: param.default
        for layer in _layers(name)
        for key, param in inspect.signature(layer).parameters.items()
        if key in names
    }


def validate_hyperparameters(name: str, hparams: Mapping[str, Any]) -> None:
    """Raise the ValueError that ``create_optimizer`` would for a user's ``hparams``, and refuse the ones the
    trainer sets; touches no model and no global RNG."""
    theirs = sorted(set_by_trainer(name) & set(hparams))
    if theirs:
        key = theirs[0]
        raise ValueError(f"hparams.{key} is set by the trainer to {TRAINER_SET[key]}; remove it")
    probe = [torch.nn.Parameter(torch.zeros(1))]
    trainer = trainer_hyperparameters(name, steps_per_epoch=1, generator=torch.Generator())
    create_optimizer(name, probe, lr=0.1, **hparams, **trainer)


def _route(name: str, hparams: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``hparams`` into the variant's and LETS's keywords; reject a key no layer takes."""
    variant = get_variant(name)
    rule_keys = _keywords(variant.rule, {"base", "foreach"}) if variant.rule is not None else set()
    lets_keys = _LETS_KEYS if variant.learns_rho else set()
    lets_kw = {k: v for k, v in hparams.items() if k in lets_keys}
    rule_kw = {k: v for k, v in hparams.items() if k not in lets_keys}
    unknown = sorted(k for k in rule_kw if k not in rule_keys)
    if unknown:
        names = hyperparameter_names(name)
        takes = ", ".join(names) or "no hyperparameters beyond the base optimizer's"
        hint = did_you_mean(unknown[0], names)
        raise ValueError(f"optimizer {name!r} does not take {', '.join(unknown)}; it takes: {takes}{hint}")
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
    raise ValueError(f"unknown base optimizer {base!r}; valid bases: {', '.join(BASES)}{did_you_mean(base, BASES)}")
