"""``sam-study bench optimizers``: the command line of the optimizer-overhead benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.bench.optimizers.markdown import format_overhead_table
from pipeline.bench.optimizers.models import bench_models
from pipeline.bench.optimizers.timing import run_overhead_benchmark


def _parse_models(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam-study bench optimizers",
        description="Time one step of every SAM-family optimizer against plain SGD.",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--quick", action="store_true", help="tiny models and few steps (smoke test)")
    parser.add_argument(
        "--models",
        type=_parse_models,
        default=None,
        help="comma-separated subset of: mlp, cnn, deep (default: all)",
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps per optimizer (default 40; quick 3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per optimizer (default 5; quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation and data (default 0)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    known = list(bench_models(args.quick))
    if args.models is not None and (not args.models or any(m not in known for m in args.models)):
        parser.error(f"--models takes a comma-separated subset of {', '.join(known)}; got {args.models}")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.warmup is not None and args.warmup < 0:
        parser.error(f"--warmup must be non-negative, got {args.warmup}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    result = run_overhead_benchmark(
        args.models,
        device=args.device,
        quick=args.quick,
        steps=args.steps,
        warmup=args.warmup,
        seed=args.seed,
        threads=args.threads,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_overhead_table(result), end="")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json_dict(), indent=2, allow_nan=False) + "\n")
    return 0
