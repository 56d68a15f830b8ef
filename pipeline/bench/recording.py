"""`sam-study bench recording`: what recording one trial costs as the trials table grows.

For a table already holding 100, 1,000 and 20,000 rows it times appending one more, both ways: the previous
version's (every append rewrote ``trials.parquet`` whole: ``write_rows`` of every row) and today's
(``TrialsTable.append`` writes the row alone, as one part). Each cell is the median of several appends, in
milliseconds, each flushed to disk (``fsync``) as a real append is. The rows are realistic: a tuned SAM trial of
50 epochs, its history, configuration, hyperparameters and library versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.results.row import TrialRow
from pipeline.results.table import TrialsTable, write_rows

SIZES = (100, 1_000, 20_000)
EPOCHS = 50


@dataclass(frozen=True)
class Cost:
    """Milliseconds to record one trial in a table of ``rows`` rows (median over ``appends`` appends)."""

    rows: int
    rewrite_ms: float  # the previous version: the whole table rewritten
    part_ms: float  # today: one part


def realistic_row(i: int) -> TrialRow:
    """The row of a finished tuning trial of SAM, as the study writes it; ``i`` makes its key and numbers."""
    history = [
        {"epoch": e, "train_loss": 2.0 / (e + 1), "val_accuracy": 0.5 + e / 200, "val_loss": 1.5 / (e + 1)}
        for e in range(EPOCHS)
    ]
    config = {"optimizer": "sam", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "rho": 0.05 + i % 7 / 100}
    return TrialRow(
        study="cifar10_resnet18",
        phase="tune",
        method="sam",
        optimizer="sam",
        trial_key=f"tune/sam/search0/trial{i}",
        seed=i,
        search=0,
        trial_index=i,
        rho=config["rho"],
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        nesterov=False,
        base="sgd",
        batch_size=128,
        epochs=EPOCHS,
        schedule="cosine",
        hparams={"rho": config["rho"], "adaptive": False},
        params_json=json.dumps({"rho": config["rho"]}),
        config_json=json.dumps(config),
        test_accuracy=0.9 + i % 100 / 10_000,
        test_loss=0.3,
        val_accuracy=0.91,
        val_loss=0.29,
        train_loss=0.05,
        best_epoch=EPOCHS - 3,
        epochs_run=EPOCHS,
        final_test_accuracy=0.9,
        final_val_accuracy=0.91,
        wall_time_s=812.5 + i,
        train_time_s=790.0,
        passes_per_step=2.0,
        steps_per_epoch=352,
        samples_per_second=2770.0,
        peak_memory_mb=1432.0,
        seconds_per_epoch=15.8,
        history_json=json.dumps(history),
        node="10.0.0.12",
        device="cuda:0",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        code_digest="sha256:" + "ab" * 32,
        versions={"torch": "2.5.1", "ray": "2.40.0", "optuna": "4.1.0", "mlflow": "2.19.0"},
        mlflow_run_id=f"{i:032x}",
        finished_at="2025-01-01T12:00:00+00:00",
    )


def measure(rows: int, appends: int, folder: Path) -> Cost:
    """Append ``appends`` trials to a table of ``rows`` rows, both ways; the median of each."""
    table_rows = [realistic_row(i) for i in range(rows + appends)]
    old = folder / f"old-{rows}" / "trials.parquet"
    rewrite = []
    for k in range(appends):
        started = time.perf_counter()
        write_rows(table_rows[: rows + k + 1], old)  # what every append did before parts
        rewrite.append(time.perf_counter() - started)
    new = folder / f"new-{rows}" / "trials.parquet"
    write_rows(table_rows[:rows], new)  # the table so far, compacted
    table = TrialsTable(new)
    part = []
    for k in range(appends):
        started = time.perf_counter()
        table.append(table_rows[rows + k])
        part.append(time.perf_counter() - started)
    return Cost(rows, 1000 * statistics.median(rewrite), 1000 * statistics.median(part))


def markdown(costs: Sequence[Cost], appends: int) -> str:
    lines = [
        "| rows in the table | rewrite the table (before), ms per append | one part (now), ms per append |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {c.rows:,} | {c.rewrite_ms:.1f} | {c.part_ms:.1f} |" for c in costs]
    return "\n".join(lines) + f"\n\nEach cell: the median of {appends} appends."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sam-study bench recording", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="rows already in the table")
    parser.add_argument("--appends", type=int, default=5, help="appends timed per size and way (the median)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the tables (default: a temp folder)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        costs = [measure(n, args.appends, Path(scratch)) for n in args.sizes]
    print("# Recording one trial: the whole table rewritten (before) against one part (now)\n")
    print(f"Command: `{' '.join(['sam-study', 'bench', 'recording', *(argv or [])])}`")
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}), python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}\n"
    )
    print(markdown(costs, args.appends))
    print(f"\nWall time: {time.monotonic() - started:.1f} s")
    return 0
