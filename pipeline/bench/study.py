"""`sam-study bench study [STUDY]`: how much of a study's wall time its trials spend inside ``run_trial``.

It runs the study (``studies/quick.yaml`` by default) into a fresh output folder and reports

    utilisation = sum over trials of run_trial's wall time / (study wall time x trial slots)

where the slots are the trials that can run at once, and the same share over the Tune run alone (the study's
trials, from the first start to the last end). The rest is orchestration: starting Ray and the worker processes,
the Optuna suggestions, per-epoch reports, MLflow and Parquet writes, the report, and the slots left idle at the
end while the last trials finish.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.formatting import percent
from pipeline.report.run_reports import study_report
from pipeline.results.selection import recorded_time_s
from pipeline.results.study_results import rows_of
from pipeline.spec.study import StudySpecError, load_study
from pipeline.study.driver import Reports, run_study

DEFAULT_STUDY = Path(__file__).resolve().parents[2] / "studies" / "quick.yaml"


@dataclass(frozen=True)
class StudyFigures:
    """Where one run of a study spent its wall time, in seconds, and how much of it its trials used."""

    study: str
    trials: int
    slots: int
    wall_s: float
    ray_start_s: float
    trials_s: float
    report_s: float
    inside_run_trial_s: float
    utilisation: float
    trials_utilisation: float | None


def measure(study: Path, out: Path, console: Any) -> StudyFigures:
    spec = load_study(study)
    outcome = run_study(spec, study, Reports(study_report), out_dir=out, console=console)
    rows, t, slots = outcome.rows, outcome.timings, outcome.slots
    inside = sum(recorded_time_s(rows_of(rows, phase)) for phase in ("tune", "eval"))
    return StudyFigures(
        study=spec.name,
        trials=len(rows),
        slots=slots,
        wall_s=t.total_s,
        ray_start_s=t.ray_start_s,
        trials_s=t.trials_s,
        report_s=t.report_s,
        inside_run_trial_s=inside,
        utilisation=inside / (t.total_s * slots),
        trials_utilisation=inside / (t.trials_s * slots) if t.trials_s else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sam-study bench study", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "study",
        nargs="?",
        type=Path,
        default=DEFAULT_STUDY,
        help="study file (default: quick)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: a fresh temporary one)",
    )
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    try:
        if args.out is None:
            with tempfile.TemporaryDirectory(prefix="sam-study-bench-") as tmp:
                figures = measure(args.study, Path(tmp), sys.stderr)
        else:
            if (args.out / load_study(args.study).name).exists():
                parser.error(
                    f"{args.out} already holds this study: a resumed run would not measure it; use a new --out"
                )
            figures = measure(args.study, args.out, sys.stderr)
    except StudySpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"study {figures.study}: {figures.trials} trials, {figures.slots} slot(s)")
    print(f"  wall time               {figures.wall_s:8.1f} s")
    print(f"    starting Ray          {figures.ray_start_s:8.1f} s")
    print(
        f"    the Tune run          {figures.trials_s:8.1f} s  ({percent(figures.trials_utilisation)} of its slot "
        "time inside run_trial)"
    )
    print(f"    report                {figures.report_s:8.1f} s")
    print(f"  inside run_trial        {figures.inside_run_trial_s:8.1f} s (summed over trials)")
    print(f"  utilisation             {percent(figures.utilisation)} of wall time x slots")
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(figures), indent=2) + "\n")
    return 0
