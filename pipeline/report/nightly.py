"""The nightly's report: ``regression.json`` and ``regression.md`` of one night (``write_night``).

``Night`` says which run was decided and with what outcome, ``Baseline`` where the rows it was compared with came
from; the verdict itself is ``pipeline.decisions.nightly``'s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline._io import finite_or_none, json_text, write_text_atomically
from pipeline.decisions.nightly import NightDecision
from pipeline.decisions.records import StudyDecisions
from pipeline.results.study_results import higher_is_better

JSON_FILE, MARKDOWN_FILE = "regression.json", "regression.md"


@dataclass(frozen=True)
class Baseline:
    """Where the baseline's rows came from: a trials table given by path, or the last accepted run in MLflow."""

    source: Literal["file", "mlflow"]
    description: str
    path: str | None = None  # source "file"
    mlflow_run_id: str | None = None  # source "mlflow"
    study_dir: str | None = None  # source "mlflow"

    @classmethod
    def from_file(cls, path: Path) -> Baseline:
        return cls("file", f"the trials table `{path}`", path=str(path))

    @classmethod
    def from_mlflow(cls, run_id: str, study_dir: str) -> Baseline:
        description = f"the last accepted run, `{study_dir}` (MLflow run `{run_id}`)"
        return cls("mlflow", description, mlflow_run_id=run_id, study_dir=study_dir)

    def to_dict(self) -> dict[str, Any]:
        if self.source == "file":
            return {"source": "file", "path": self.path, "description": self.description}
        return {
            "source": "mlflow",
            "mlflow_run_id": self.mlflow_run_id,
            "study_dir": self.study_dir,
            "description": self.description,
        }


@dataclass(frozen=True)
class Night:
    """The night decided: its study, folder and MLflow run, its baseline, whether it became the next baseline,
    and the exit status the command ends with."""

    study: str
    study_dir: Path
    mlflow_run_id: str
    baseline: Baseline | None
    accepted: bool
    exit_code: int


def write_night(decision: NightDecision, night: Night) -> list[Path]:
    """``regression.json`` and ``regression.md`` in the night's folder, each written whole (temp, then rename)."""
    files = []
    for name, text in (
        (JSON_FILE, json_text(decision_json(decision, night))),
        (MARKDOWN_FILE, decision_markdown(decision, night)),
    ):
        write_text_atomically(night.study_dir / name, text)
        files.append(night.study_dir / name)
    return files


def decision_json(decision: NightDecision, night: Night) -> dict[str, Any]:
    determinism = decision.determinism
    return finite_or_none(
        {
            "study": night.study,
            "run": {"study_dir": str(night.study_dir), "mlflow_run_id": night.mlflow_run_id},
            "baseline": None if night.baseline is None else night.baseline.to_dict(),
            "accepted": night.accepted,
            "verdict": decision.verdict,
            "exit_code": night.exit_code,
            "metric": decision.metric,
            "margin": decision.margin,
            "alpha": decision.alpha,
            "regressed": decision.regressed,
            "methods": [{**asdict(t), "decision": t.decision} for t in decision.tests],
            "new_methods": decision.new_methods,
            "counts": decision.counts,
            "determinism": None
            if determinism is None
            else {
                "checked": determinism.checked,
                "mismatches": [asdict(m) for m in determinism.mismatches],
                "skipped": determinism.skipped,
            },
            "problems": decision.problems,
            "rounds": None if decision.rounds is None else decision.rounds.to_dict(),
        }
    )


_HEADLINE = {
    "pass": "PASS: no method regressed",
    "no-baseline": "NO BASELINE: nothing to compare with",
    "regression": "REGRESSION",
    "broken": "BROKEN: the nightly could not decide",
}


def decision_markdown(decision: NightDecision, night: Night) -> str:
    lines = [f"# Nightly regression: {night.study}", "", f"**{_HEADLINE[decision.verdict]}**"]
    if decision.regressed:
        lines[-1] += f" — {', '.join(decision.regressed)} got worse than the baseline by more than {decision.margin:g}"
    if decision.determinism is not None and decision.determinism.mismatches:
        lines[-1] += " — a run that should have reproduced its baseline exactly did not"
    lines += ["", f"- this run: `{night.study_dir}` (MLflow run `{night.mlflow_run_id}`)"]
    lines.append(f"- baseline: {night.baseline.description}" if night.baseline else "- baseline: none")
    lines += [f"- accepted as the new baseline: {'yes' if night.accepted else 'no'}", ""]
    lines += [f"- problem: {problem}" for problem in decision.problems]
    if decision.tests:
        lines += _tests_markdown(decision)
    if decision.rounds is not None:
        lines += _rounds_markdown(decision, decision.rounds)
    if decision.new_methods:
        lines += [f"No baseline run for: {', '.join(decision.new_methods)} (not tested).", ""]
    determinism = decision.determinism
    if determinism is not None:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(determinism.skipped.items())) or "none"
        lines.append(
            f"Exact reproduction on CPU: {determinism.checked} run(s) with unchanged configuration and code checked, "
            f"{len(determinism.mismatches)} differ (not checked: {skipped})."
        )
        lines += [f"- {m.describe()}" for m in determinism.mismatches]
    return "\n".join(lines) + "\n"


def _arrow(metric: str) -> str:
    return "higher" if higher_is_better(metric) else "lower"


def _tests_markdown(decision: NightDecision) -> list[str]:
    lines = [
        (
            f"Per method, paired by seed, on `{decision.metric}` ({_arrow(decision.metric)} is better). A method "
            f"regresses when a one-sided paired t-test finds it worse than the baseline by more than "
            f"δ = {decision.margin:g}, Holm-corrected across {len(decision.tests)} method(s), "
            f"at α = {decision.alpha:g}."
        ),
        "",
        (
            "| method | seeds | this run | baseline | change (better +) | "
            f"{decision.tests[0].confidence_level:.0%} CI | p (worse by > δ) | Holm p | decision |"
        ),
        "|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for t in decision.tests:
        lines.append(
            f"| {t.method} | {t.n} | {t.current_mean:.4f} | {t.baseline_mean:.4f} | {t.change:+.4f} | "
            f"[{t.change_ci_low:+.4f}, {t.change_ci_high:+.4f}] | {_p(t.p_worse)} | {_p(t.p_worse_holm)} | "
            f"{t.decision} |"
        )
    return [*lines, ""]


def _rounds_markdown(decision: NightDecision, rounds: StudyDecisions) -> list[str]:
    lines = [
        (
            f"Per method, paired by seed, on `{decision.metric}` ({_arrow(decision.metric)} is better), in rounds of "
            f"seeds (looks at {', '.join(str(n) for n in rounds.looks)}): a method passes once the repeated interval "
            f"of its change lies above −δ = {-decision.margin:g}, and regresses once it lies below −δ; "
            f"α = {decision.alpha:g} is split over the methods and looks (docs/sequential.md), so the night may stop "
            "early. A method still undecided at its last look has not been shown to regress."
        ),
        "",
        "| method | seeds | change (better +) | repeated interval | decision |",
        "|---|---:|---:|---|---|",
    ]
    for m in rounds.methods:
        if not m.looks:
            lines.append(f"| {m.method} | {m.seeds_spent} | – | – | {m.stopped or 'no look yet'} |")
            continue
        look = m.looks[-1]
        why = f" ({m.stopped})" if m.stopped else ""
        lines.append(
            f"| {m.method} | {look.n} | {look.estimate:+.4f} | [{look.ci_low:+.4f}, {look.ci_high:+.4f}] | "
            f"{m.decision}{why} |"
        )
    return [*lines, ""]


def _p(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3g}"
