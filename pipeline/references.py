"""A user's code by import string, ``module:attr``: where it is found, and each way it can fail, in words.

A study names its own data factory, model factory or optimizer rule as ``my_ext:make_net``. The module is looked
up on ``sys.path`` plus the study's code folders (the study file's folder, and any ``code:`` folders), which
``add_code_folders`` puts first on the path in this process; Ray ships the same folders to every worker.
Every failure raises ``ReferenceProblem`` with a message that says what was looked for, where, and the fix.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, SerializerFunctionWrapHandler, model_serializer, model_validator

_code_folders: list[str] = []


class ReferenceProblem(ValueError):
    """A ``module:attr`` that cannot be used; the message names the reference and the fix. ``field`` is the part of
    the study's entry at fault: ``factory`` (the reference, or what it returned) or ``args.<name>``."""

    def __init__(self, message: str, field: str = "factory") -> None:
        super().__init__(message)
        self.field = field


def is_reference(text: str) -> bool:
    """``module:attr`` (a dotted module, a colon, an attribute name)."""
    module, sep, attr = text.partition(":")
    return bool(sep) and _dotted(module) and attr.isidentifier()


def _dotted(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def checked_reference(factory: str | None) -> str | None:
    """``factory`` if it is None or of the form ``module:attr``; ValueError otherwise."""
    if factory is not None and not is_reference(factory):
        raise ValueError(f"must be an import string module:attr, e.g. my_ext:make_net, got {factory!r}")
    return factory


def checked_args(args: dict[str, Any]) -> dict[str, Any]:
    """A factory's ``args`` if they are JSON values (they travel to every worker as JSON, and enter the study's
    identity so); ValueError otherwise."""
    try:
        json.dumps(args, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"must hold numbers, strings, booleans, lists and mappings only: {error}") from None
    return args


# A config's ``factory`` and ``args`` fields (the data and model configs share them), checked as they are read.
FactoryReference = Annotated[str | None, AfterValidator(checked_reference)]
FactoryArgs = Annotated[dict[str, Any], AfterValidator(checked_args)]


class TakesFactory(BaseModel):
    """Base of the data and model configs, which take a user's ``factory`` and its ``args`` (each declares both
    fields where they belong): ``name`` is ``factory`` when a factory is given without one, and a config without
    a factory dumps without the two fields, so that a study of built-in names records exactly what it recorded
    before they existed (its spec.json, trial configs and their digests)."""

    @model_validator(mode="before")
    @classmethod
    def _factory_names_it(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("factory") is not None and "name" not in data:
            return {**data, "name": "factory"}
        return data

    # Fields added since, left out of the dump while unset for the same reason.
    _LEFT_OUT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped = handler(self)
        if dumped.get("factory") is None:
            dumped.pop("factory", None)
            dumped.pop("args", None)
        for name in self._LEFT_OUT_WHEN_UNSET:
            if dumped.get(name) is None:
                dumped.pop(name, None)
        return dumped


def add_code_folders(folders: Iterable[str | Path]) -> None:
    """Put ``folders`` first on this process's import path (once each), as ``python -m`` does with its folder."""
    for folder in folders:
        path = str(Path(folder).resolve())
        if path not in _code_folders:
            _code_folders.append(path)
        if path not in sys.path:
            sys.path.insert(0, path)


def study_code_folders(study_file: str | Path, code: Iterable[str]) -> list[Path]:
    """A study's code folders: the study file's own folder, then each of ``code`` read from it (not yet checked)."""
    home = Path(study_file).resolve().parent
    return [home, *((home / Path(c).expanduser()).resolve() for c in code)]


def code_modules(folders: Iterable[Path]) -> list[Path]:
    """The modules a code folder holds: its top-level ``.py`` files and packages (folders with ``__init__.py``)."""
    return [
        entry
        for folder in folders
        for entry in sorted(folder.iterdir())
        if not entry.name.startswith((".", "__"))
        and ((entry.suffix == ".py" and entry.is_file()) or (entry / "__init__.py").is_file())
    ]


def resolve(reference: str) -> Any:
    """The object ``module:attr`` names; ``ReferenceProblem`` when the module is missing, fails to import, or has
    no such attribute (with the nearest name it has)."""
    if not is_reference(reference):
        raise ReferenceProblem(f"{reference!r} is not an import string; write it as module:attr, e.g. my_ext:make_net")
    module_name, _, attr = reference.partition(":")
    module = _import(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ReferenceProblem(f"module {module_name!r} ({module.__file__}) has no attribute {attr!r}{hint}") from None


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(missing + "."):  # not a module it imports itself
            searched = ", ".join(_code_folders) or "no code folder"
            raise ReferenceProblem(
                f"no module named {error.name!r}; searched the study's code folders ({searched}) and the installed "
                "packages; put the module beside the study file, or list its folder under code:"
            ) from None
        raise ReferenceProblem(f"module {module_name!r} raised while importing: {error!r}") from error
    except Exception as error:  # any error of the user's module, named and chained
        raise ReferenceProblem(f"module {module_name!r} raised while importing: {error!r}") from error


def check_call(fn: Any, reference: str, fixed: Iterable[str], args: Mapping[str, Any]) -> None:
    """``ReferenceProblem`` naming the argument that does not bind, unless ``fn`` can be called with the keywords
    ``fixed`` (which the pipeline passes) and ``args`` (the study's)."""
    if not callable(fn):
        raise ReferenceProblem(f"{reference} is a {type(fn).__name__}, not a function or class")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: its call will say
    clash = sorted(set(fixed) & set(args))
    if clash:
        raise ReferenceProblem(f"the pipeline passes {clash[0]} itself; remove it from args", f"args.{clash[0]}")
    try:
        signature.bind(**{name: None for name in fixed}, **args)
    except TypeError as error:
        names = [p for p in signature.parameters if p not in fixed]
        unknown = [a for a in args if a not in signature.parameters]
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            close = difflib.get_close_matches(unknown[0], names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ReferenceProblem(
                f"{reference} takes no argument {unknown[0]!r} (it takes {', '.join(names) or 'none'}){hint}",
                f"args.{unknown[0]}",
            ) from None
        raise ReferenceProblem(f"{reference}{signature} cannot be called so: {error}", "args") from None
