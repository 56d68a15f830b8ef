"""The table `sam-study run` prints at the end of a study: per method, what it scored and what it cost."""

from __future__ import annotations

import statistics

from pipeline.formatting import short
from pipeline.results.row import TrialRow
from pipeline.results.selection import Selection, recorded_time_s
from pipeline.results.study_results import rows_of
from pipeline.spec.study import StudySpec


def summary_table(spec: StudySpec, rows: list[TrialRow], selections: dict[str, Selection]) -> str:
    """Per method: test accuracy over the evaluation seeds (mean ± std), the selected ρ, trial counts and
    the wall time of its trials. Diverged and failed runs are counted, never hidden."""
    lines = [
        "| method | test accuracy (mean ± std) | runs ok/diverged/failed | selected | tuning trials | trial time (s) |",
        "|---|---|---|---|---:|---:|",
    ]
    for method in spec.methods:
        runs = rows_of(rows, "eval", method.name)
        accs = [r.test_accuracy for r in runs if r.status == "ok" and r.test_accuracy is not None]
        counts = "/".join(str(sum(1 for r in runs if r.status == s)) for s in ("ok", "diverged", "failed"))
        if len(accs) >= 2:
            acc = f"{statistics.mean(accs):.4f} ± {statistics.stdev(accs):.4f}"
        else:
            acc = f"{accs[0]:.4f}" if accs else "-"
        selection = selections[method.name]
        chosen = ", ".join(f"{k}={short(v)}" for k, v in sorted(selection.params.items())) or selection.source
        rho = dict(method.hparams).get("rho")
        if "rho" not in selection.params and rho is not None:
            chosen += f" (rho={short(rho)})"
        time_s = recorded_time_s([r for r in rows if r.method == method.name])
        lines.append(
            f"| {method.name}{' (reference)' if method.name == spec.reference else ''} | {acc} | {counts} | "
            f"{chosen} | {selection.tuning_trials} | {time_s:.0f} |"
        )
    return "\n".join(lines)
