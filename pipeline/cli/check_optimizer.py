"""`sam-study check-optimizer MODULE:CLASS`: the SAM family's contract (``pipeline.optim.conformance``) on a rule."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.cli.exit_codes import ExitCode
from pipeline.optim import list_optimizers, register_rule
from pipeline.optim.conformance import check_rule
from pipeline.references import ReferenceProblem, add_code_folders, is_reference, resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "rule",
        help="MODULE:CLASS, a SAMFamilyOptimizer subclass importable from the current folder or --code; or the name "
        "of a shipped optimizer",
    )
    parser.add_argument("--code", action="append", default=[], help="a folder to import the rule from (repeatable)")
    parser.add_argument(
        "--hparams",
        default="{}",
        help="the rule's hyperparameters as JSON, e.g. '{\"rho\": 0.1}' (default: its own defaults)",
    )
    parser.add_argument("--lets", action="store_true", help="check LETS over the rule (lets-<name>) too")


def command(args: argparse.Namespace) -> int:
    try:
        names, hparams = _names(args), json.loads(args.hparams)
    except (ReferenceProblem, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if not isinstance(hparams, dict):
        print(f"error: --hparams: a JSON object of hyperparameters, got {args.hparams}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    broken = False
    for name in names:
        print(f"{name}:")
        for check in check_rule(name, hparams):
            print(f"  {check.line()}")
            broken |= not check.ok
    return ExitCode.CONTRACT_BROKEN if broken else ExitCode.OK


def _names(args: argparse.Namespace) -> list[str]:
    """The registry names to check: a shipped one as given, or the user's class registered under its own name."""
    if not is_reference(args.rule):
        if args.rule not in list_optimizers():
            raise ValueError(f"rule: {args.rule!r} is neither MODULE:CLASS nor a shipped optimizer's name")
        return [args.rule]
    add_code_folders([Path.cwd(), *args.code])
    rule = resolve(args.rule)
    name = f"user-{getattr(rule, '__name__', 'rule').lower()}"
    try:
        register_rule(name, rule)
    except ValueError as error:
        raise ValueError(f"rule: {args.rule}: {error}") from None
    return [name, f"lets-{name}"] if args.lets else [name]
