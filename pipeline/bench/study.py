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
from pathlib import Path
from typing import Any

from pipeline.results.selection import recorded_time_s
from pipeline.results.study_results import rows_of
from pipeline.spec.study import StudySpecError, load_study
from pipeline.study.driver import run_study

DEFAULT_STUDY = Path(__file__).resolve().parents[2] / "studies" / "quick.yaml"


def measure(study: Path, out: Path, stream: Any) -> dict[str, Any]:
    spec = load_study(study)
    outcome = run_study(spec, study, out_dir=out, stream=stream)
    rows = outcome.rows
    t = outcome.timings
    inside = {phase: recorded_time_s(rows_of(rows, phase)) for phase in ("tune", "eval")}
    slots = outcome.slots
    return {
        "study": spec.name,
        "trials": len(rows),
        "slots": slots,
        "wall_s": t["total_s"],
        "ray_start_s": t["ray_start_s"],
        "trials_s": t["trials_s"],
        "report_s": t.get("report_s", 0.0),
        "inside_run_trial_s": inside["tune"] + inside["eval"],
        "utilisation": (inside["tune"] + inside["eval"]) / (t["total_s"] * slots),
        "trials_utilisation": (inside["tune"] + inside["eval"]) / (t["trials_s"] * slots) if t["trials_s"] else None,
    }


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
    print(f"study {figures['study']}: {figures['trials']} trials, {figures['slots']} slot(s)")
    print(f"  wall time               {figures['wall_s']:8.1f} s")
    print(f"    starting Ray          {figures['ray_start_s']:8.1f} s")
    print(
        f"    the Tune run          {figures['trials_s']:8.1f} s  ({_pct(figures['trials_utilisation'])} of its slot "
        "time inside run_trial)"
    )
    print(f"    report                {figures['report_s']:8.1f} s")
    print(f"  inside run_trial        {figures['inside_run_trial_s']:8.1f} s (summed over trials)")
    print(f"  utilisation             {_pct(figures['utilisation'])} of wall time x slots")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
