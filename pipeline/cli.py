"""`sam-study`: the command line (also `python -m pipeline`).

Subcommands import their modules lazily, so `sam-study --help` stays fast and a subcommand's heavy
dependencies load only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

BENCHMARKS = {
    "optimizers": "pipeline.bench.optimizer_overhead",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam-study",
        description="Hyperparameter studies of sharpness-aware optimizers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser(
        "bench",
        help="measure optimizer overhead",
        description="Measured benchmarks. `sam-study bench optimizers --help` lists a benchmark's options.",
    )
    bench.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark to run")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options of that benchmark")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        import importlib

        module = importlib.import_module(BENCHMARKS[args.benchmark])
        return int(module.main(args.args) or 0)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
