"""argparse as every `sam-study` command uses it: a short usage on error, and the nearest valid name or flag."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from pipeline.cli.exit_codes import ExitCode
from pipeline.spec.suggest import did_you_mean, literal_choices

MAX_USAGE_LINES = 3


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors fit on a few lines and offer the nearest valid name."""

    def error(self, message: str) -> NoReturn:
        # `train`'s generated usage lists its 60 flags: on an error, a pointer to --help says more.
        usage = self.format_usage().strip()
        if usage.count("\n") >= MAX_USAGE_LINES:
            usage = f"usage: {self.prog} [options]; see {self.prog} --help"
        self.exit(ExitCode.BAD_INPUT, f"{usage}\n{self.prog}: error: {message}{_choice_hint(message)}\n")

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        # Each command's own parser refuses what it does not know, so the error names its flags, not the top's.
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            flags = [s for action in self._actions for s in action.option_strings]  # no public list of them
            hint = did_you_mean(extras[0].split("=")[0], flags) if extras[0].startswith("-") else ""
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed, extras


def _choice_hint(message: str) -> str:
    """The nearest name for argparse's own ``invalid choice: 'trian' (choose from 'bench', 'train', ...)``."""
    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    return did_you_mean(found.group(1), literal_choices(found.group(2))) if found else ""
