"""`sam-study train`'s errors in the words of its flags: ``--rho must be > 0, got -1.0``.

A pydantic location (``('hparams', 'rho')``) and a field named in a message (``label_noise must lie in ...``) both
become the flag that sets them (see ``train_args.flag_for``); pydantic's own message and input are kept, its dump
is not.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from pipeline.cli.train_args import flag_paths
from pipeline.spec.errors import FieldError, field_errors

# The configs that model-level checks run on; a check at the top (no location) is the hyperparameters' check.
_MODELS = {("data",), ("data", "synthetic"), ("model",)}
_HPARAMS = ("hparams",)


def validation_messages(error: ValidationError) -> list[str]:
    """One line per error of a TrialConfig built from the flags, each naming the flag."""
    return [_message(item) for item in field_errors(error)]


def name_flags(message: str, scope: tuple[str, ...] = _HPARAMS) -> str:
    """``message`` with every field below ``scope`` that it names (``rho``, ``n_classes``, ``synthetic.n_classes``)
    as its flag; a name in quotes, or inside a path or a longer name, is left alone. ``got --rho=-1.0`` after
    ``--rho`` reads ``got -1.0``."""
    words = {}
    for path, flag in flag_paths().items():
        if path[: len(scope)] == scope:
            words[".".join(path[len(scope) :])] = flag
            if scope:  # also as its config's own checks say it: synthetic.n_classes
                words[".".join(path[len(scope) - 1 :])] = flag
    if not words:
        return message
    pattern = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    text = re.sub(rf"(?<![\w'/.-])(?:{pattern})(?![\w'-])", lambda m: words[m.group()], message)
    subject = re.match(r"--[\w-]+", text)
    return text.replace(f"got {subject.group()}=", "got ") if subject else text


def _message(item: FieldError) -> str:
    loc = tuple(str(part) for part in item.loc)
    message = item.message
    # The longest path with a flag: a union's error adds the member it tried (('hparams', 'rho', 'bool')).
    flag = next((flag_paths()[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in flag_paths()), None)
    if flag is not None and message.startswith("Input should"):  # pydantic's own check: "Input should be > 0"
        return f"{flag} {message.removeprefix('Input ')}, got {item.input!r}"
    if not loc:
        scope = _HPARAMS  # TrialConfig's own check is the hyperparameters'
    elif loc in _MODELS:
        scope = loc  # a config's own check names its fields
    else:
        scope = loc[:-1]  # a field's check names it, and perhaps its neighbours
    text = name_flags(message, scope)
    return text if flag is None or flag in text else f"{flag}: {text}"
