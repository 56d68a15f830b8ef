"""A hand-written study folder with sequential seeds, ``{start: 3, step: 2, max: 7}`` and δ = 0.01, for the tests of
its decisions and their report.

The default scores make one decision of each kind at a different look: fsam is better at the first look (3 seeds),
sgd worse at the second (5), and asam stays undecided up to max (7), its interval holding 0 and reaching beyond ±δ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.results.folder import SPEC_FILE, TABLE_FILE
from pipeline.results.table import read_rows, write_rows
from pipeline.spec.study import StudySpec
from tests.stats.synthetic_study import write_study

START, STEP, MAX, MARGIN = 3, 2, 7, 0.01
SAM = (0.900, 0.905, 0.895, 0.902, 0.898, 0.901, 0.899)
DIFFERENCES = {  # method - sam on seeds 0, 1, ...: as many as the method needed
    "fsam": (0.0200, 0.0205, 0.0198),
    "sgd": (-0.010, -0.012, -0.008, -0.011, -0.009),
    "asam": (0.010, -0.008, 0.012, -0.005, 0.009, -0.010, 0.011),
}


def sequential_scores(differences: Mapping[str, Sequence[float]] = DIFFERENCES) -> dict[str, list[float | None]]:
    """``write_study``'s scores: sam's on every seed, each method's sam + its difference, None past its last."""
    scores: dict[str, list[float | None]] = {"sam": list(SAM)}
    for method, diffs in differences.items():
        scores[method] = [s + d for s, d in zip(SAM, diffs, strict=False)] + [None] * (MAX - len(diffs))
    return scores


def write_sequential_study(
    folder: Path,
    scores: Mapping[str, Sequence[float | None]] | None = None,
    *,
    statuses: Mapping[str, Sequence[str]] | None = None,
    margin: float = MARGIN,
    statistics: Mapping[str, Any] | None = None,
    futility: float | None = None,
) -> Path:
    """``write_study`` with the spec's seeds turned into rounds, and each evaluation row given its round."""
    study_dir = write_study(folder, scores or sequential_scores(), statuses=statuses, statistics=statistics)
    raw = json.loads((study_dir / SPEC_FILE).read_text())
    raw["evaluation"] = {"seeds": {"start": START, "step": STEP, "max": MAX}, "margin": margin, "futility": futility}
    spec = StudySpec.model_validate(raw)
    (study_dir / SPEC_FILE).write_text(json.dumps(spec.model_dump(mode="json"), indent=2))
    looks = spec.evaluation.seeds.looks
    rows = read_rows(study_dir / TABLE_FILE)
    rows = [
        r.replace(round=next(k for k, n in enumerate(looks) if r.seed < n)) if r.phase == "eval" else r for r in rows
    ]
    write_rows(rows, study_dir / TABLE_FILE)
    return study_dir
