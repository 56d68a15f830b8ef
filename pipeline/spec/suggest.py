"""The nearest valid name to a misspelt one, for the messages of the study file and the command line.

``optim``, ``data`` and ``models`` import nothing of the project, so each offers its own suggestion the same way.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel


def did_you_mean(name: object, valid: Iterable[str]) -> str:
    """``"; did you mean 'sam'?"`` for the valid name nearest a misspelt ``name``; "" when none is near."""
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def literal_choices(expected: str) -> list[str]:
    """The quoted names in pydantic's ``literal_error`` context (``"'sgd' or 'adamw'"`` -> ``['sgd', 'adamw']``)."""
    return re.findall(r"'([^']*)'", expected)


def keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the mapping at ``loc`` below ``model`` may hold: ``('methods', 0, 'search', 'rho')`` of a study
    -> a SearchParam's fields. Empty where ``loc`` leaves the typed models (a free mapping such as hparams)."""
    node: Any = model
    for part in loc:
        node = _step(strip_optional(node), part)
    node = strip_optional(node)
    return list(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _step(node: Any, part: Any) -> Any:
    """The annotation one step below ``node``: a model's field by name, a tuple's or a mapping's item."""
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    items = [a for a in typing.get_args(node) if a is not Ellipsis]
    if typing.get_origin(node) in (tuple, dict) and items:
        return items[-1]  # tuple[X, ...] by index, dict[str, X] by key
    return None


def strip_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
