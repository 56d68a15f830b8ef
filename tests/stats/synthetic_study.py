"""A study folder written by hand (spec.json + trials.parquet) with scores the test chooses, for report tests.

No training runs: the rows carry exactly the columns the report reads, written through the real TrialsTable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.results.folder import SPEC_FILE, TABLE_FILE
from pipeline.results.row import TrialRow
from pipeline.results.table import TrialsTable
from pipeline.spec.study import parse_study

PASSES = {"sgd": 1.0, "sam": 2.0, "fsam": 2.0, "asam": 2.0, "lets-sam": 3.0}
SECONDS_PER_EPOCH = {"sgd": 0.5, "sam": 1.0, "fsam": 1.05, "asam": 1.02, "lets-sam": 1.5}
TUNING_RHOS = (0.01, 0.05, 0.2)


def study_spec(methods: Sequence[str], seeds: Sequence[int], statistics: Mapping[str, Any] | None = None):
    raw = {
        "name": "synthetic",
        "description": "hand-written scores",
        "data": {"name": "synthetic"},
        "model": {"name": "mlp", "hidden": [8]},
        "training": {"epochs": 4},
        "methods": [
            {
                "name": m,
                **(
                    {"search": {"rho": {"low": 0.01, "high": 0.5, "log": True}}} if m in ("sam", "fsam", "asam") else {}
                ),
            }
            for m in methods
        ],
        "reference": "sam",
        "tuning": {"trials": len(TUNING_RHOS), "startup_trials": 1},
        "evaluation": {"seeds": list(seeds)},
        "statistics": dict(statistics or {}),
    }
    return parse_study(raw, "synthetic.yaml")


def _row(method: str, phase: str, key: str, seed: int, status: str, accuracy: float | None, **extra) -> TrialRow:
    epochs = 4
    row = {
        "study": "synthetic",
        "phase": phase,
        "method": method,
        "optimizer": method,
        "trial_key": key,
        "search": 0 if phase == "tune" else None,
        "trial_index": extra.pop("trial_index", None),
        "seed": seed,
        "status": status,
        "rho": extra.pop("rho", None),
        "test_accuracy": accuracy if status == "ok" else (0.1 if status == "diverged" else None),
        "val_accuracy": accuracy,
        "val_loss": 0.5,
        "wall_time_s": SECONDS_PER_EPOCH[method] * epochs + 1.0,
        "seconds_per_epoch": SECONDS_PER_EPOCH[method],
        "passes_per_step": PASSES[method],
        "epochs_run": epochs,
        "params_json": json.dumps(extra.pop("params", {})),
        "rho_trajectory": extra.pop("rho_trajectory", None),
        "git_commit": "0123abc",
        "device": "cpu",
        "node": "127.0.0.1",
        "version.torch": "2.13.0",
    }
    row.update(extra)
    return TrialRow.from_record(row)


def write_study(
    folder: Path,
    scores: Mapping[str, Sequence[float | None]],
    *,
    seeds: Sequence[int] | None = None,
    statuses: Mapping[str, Sequence[str]] | None = None,
    spec_methods: Sequence[str] | None = None,
    statistics: Mapping[str, Any] | None = None,
) -> Path:
    """``scores[method][i]`` is the test accuracy on ``seeds[i]``; None leaves that run out of the table.
    ``statuses`` marks runs ``diverged``/``failed``; ``spec_methods`` lists methods the spec has (default:
    the scores' keys, so a method in ``spec_methods`` but not in ``scores`` has no run at all)."""
    methods = list(spec_methods or scores)
    n = len(next(iter(scores.values())))
    seeds = list(seeds if seeds is not None else range(n))
    spec = study_spec(methods, seeds if len(seeds) >= 2 else [*seeds, max(seeds) + 1], statistics)
    study_dir = folder / spec.name
    study_dir.mkdir(parents=True)
    (study_dir / SPEC_FILE).write_text(json.dumps(spec.model_dump(mode="json"), indent=2))
    table = TrialsTable(study_dir / TABLE_FILE)
    for method in methods:
        if method not in ("sam", "fsam", "asam"):
            continue
        for i, rho in enumerate(TUNING_RHOS):
            accuracy = 0.8 + 0.1 * (rho == 0.05)
            table.append(
                _row(
                    method,
                    "tune",
                    f"tune/{method}/search0/trial{i}",
                    10_000,
                    "ok",
                    accuracy,
                    rho=rho,
                    trial_index=i,
                    params={"rho": rho},
                )
            )
    for method, values in scores.items():
        for i, (seed, value) in enumerate(zip(seeds, values, strict=True)):
            if value is None:
                continue
            status = (statuses or {}).get(method, ["ok"] * n)[i]
            trajectory = [0.05 + 0.01 * e for e in range(5)] if method.startswith("lets-") else None
            table.append(
                _row(
                    method,
                    "eval",
                    f"eval/{method}/seed{seed}",
                    seed,
                    status,
                    value,
                    rho=0.05,
                    rho_trajectory=trajectory,
                )
            )
    table.compact()  # a finished study's folder: one trials.parquet, as `sam-study run` leaves it
    return study_dir
