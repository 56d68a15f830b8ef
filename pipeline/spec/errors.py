"""Pydantic's ValidationError in the project's words, written once for every reader of typed input.

``field_errors`` turns each error into a ``FieldError``: its path (without the tags pydantic adds for a union or a
model-level check) and pydantic's message without its ``Value error, `` prefix; ``described`` adds the input it
refused and the nearest valid name. A study or suite file names the field where the user wrote it
(``validation_messages``: ``methods[sam].search.rho.low``); the command line names the flag that sets it
(``cli/train_errors.py``, ``report/write.py``), from the same records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.spec.suggest import did_you_mean, keys_at, literal_choices

_NO_INPUT = object()


@dataclass(frozen=True)
class FieldError:
    """One error of a ValidationError: ``loc`` the path of field names and indices, ``message`` pydantic's words (a
    validator's own message as it raised it), ``kind`` pydantic's error type, ``input`` the value it refused."""

    loc: tuple[str | int, ...]
    message: str
    kind: str
    input: Any = _NO_INPUT
    expected: str = ""  # a literal_error's choices, as pydantic quotes them

    @property
    def has_input(self) -> bool:
        return self.input is not _NO_INPUT


def field_errors(error: ValidationError) -> tuple[FieldError, ...]:
    """Each error of ``error`` as a FieldError, in pydantic's order."""
    return tuple(_field_error(item) for item in error.errors())


def _field_error(item: Any) -> FieldError:
    # Pydantic appends the failing model's or union member's tag to a path (``Seeds[rounds]``); drop such parts.
    loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p[:1].isupper() and "[" in p))
    return FieldError(
        loc=loc,
        message=str(item["msg"]).removeprefix("Value error, "),
        kind=item["type"],
        input=item.get("input", _NO_INPUT),
        expected=str(item.get("ctx", {}).get("expected", "")),
    )


def described(error: FieldError, model: type[BaseModel] | None = None) -> str:
    """The message with the input it refused and the nearest valid name or key (``model``: the root the path starts
    from, for an unknown key's suggestion)."""
    if error.kind == "extra_forbidden":
        hint = did_you_mean(error.loc[-1], keys_at(model, error.loc[:-1])) if error.loc and model else ""
        return f"unknown key{hint or '; remove it or check its spelling'}"
    message = error.message
    if error.kind not in ("value_error", "assertion_error") and error.has_input:
        message = f"{message} (got {error.input!r})"
    if error.kind == "literal_error" and isinstance(error.input, str):
        message += did_you_mean(error.input, literal_choices(error.expected))
    return message


def location(loc: tuple[Any, ...], raw: Any) -> str:
    """``('methods', 1, 'search', 'rho', 'low')`` -> ``methods[sam].search.rho.low`` (an item's name when the input
    ``raw`` gives one, else its index)."""
    parts: list[str] = []
    node = raw
    for part in loc:
        if isinstance(part, int):
            label = str(part)
            if isinstance(node, list) and part < len(node):
                item = node[part]
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    label = item["name"]
                node = item
            else:
                node = None
            parts.append(f"[{label}]")
            continue
        node = node.get(part) if isinstance(node, dict) else None
        parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def validation_messages(error: ValidationError, raw: Any, model: type[BaseModel]) -> list[tuple[str, str]]:
    """(field, message) of each error of validating ``raw`` as ``model``: ``('methods[sam].search.rho.low', ...)``."""
    lines = []
    for item in field_errors(error):
        message = described(item, model)
        where = location(item.loc, raw)
        nested = re.match(r"^(search\.[\w.-]+): (.*)$", message, re.DOTALL)
        if nested:  # a method-level check about one searched value: extend the path rather than repeat it
            where, message = f"{where}.{nested.group(1)}", nested.group(2)
        lines.append((where, message))
    return lines


def format_validation_error(error: ValidationError, raw: Any, model: type[BaseModel]) -> str:
    """Every error on one line: ``methods[sam].search.rho.low: must be ...; evaluation.seeds: ...``."""
    return "; ".join(f"{w}: {m}" if w else m for w, m in validation_messages(error, raw, model))


def first_message(error: ValidationError) -> str:
    """The first error as ``path.to.field: message``, the path as pydantic writes it."""
    first = field_errors(error)[0]
    loc = ".".join(str(p) for p in error.errors()[0]["loc"])
    return f"{loc}: {first.message}" if loc else first.message
