"""A method's search space as Optuna distributions: plain data, no computation.

A distribution dict (rather than a define-by-run function) is what lets a resumed study hand the
trials it already has back to the sampler (``OptunaSearch(..., evaluated_rewards=...)`` accepts only
this form), so the search continues from its history instead of starting over.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from pipeline.spec.study import MethodSpec, SearchParam


def distribution(param: SearchParam) -> BaseDistribution:
    if param.choices is not None:
        return CategoricalDistribution(list(param.choices))
    assert param.low is not None and param.high is not None  # the spec checked it
    if param.integer:
        return IntDistribution(int(param.low), int(param.high), log=param.log)
    return FloatDistribution(param.low, param.high, log=param.log)


def search_space(method: MethodSpec) -> dict[str, BaseDistribution]:
    """``{hyperparameter: distribution}`` for a tuned method, in a fixed (sorted) order."""
    return {key: distribution(method.search[key]) for key in sorted(method.search)}


def to_native(params: dict[str, Any]) -> dict[str, Any]:
    """Sampled values as plain Python numbers (Optuna may hand back numpy scalars)."""
    return {k: v.item() if hasattr(v, "item") else v for k, v in params.items()}
