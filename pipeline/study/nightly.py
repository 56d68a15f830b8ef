"""The nightly regression decision: one night's fixed study against the last accepted baseline.

``check_nightly_spec`` refuses a study the nightly cannot decide on; ``decide`` compares the two runs'
evaluation rows (the statistical test of ``pipeline.stats.regression`` and the exact-reproduction check of
``determinism``); ``write_decision`` writes ``regression.json`` and ``regression.md``. Running the study and
talking to MLflow is the command's job (``cli_nightly``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline._io import finite_or_none, json_text, write_text_atomically
from pipeline.results.row import TrialRow
from pipeline.results.study_results import StudyResults, higher_is_better, rows_of
from pipeline.spec.study import StudySpec, StudySpecError
from pipeline.stats.regression import RegressionTest, regression_tests
from pipeline.study.determinism import DeterminismCheck, check_determinism

EXIT_CODES = {"pass": 0, "no-baseline": 0, "regression": 1, "broken": 2}


def check_nightly_spec(spec: StudySpec, source: str) -> None:
    """A nightly runs fixed configurations and needs its margin: say which field is wrong before anything runs."""
    if spec.regression is None:
        raise StudySpecError(
            f"{source}: regression: missing; a nightly study needs `regression: {{margin: 0.01}}` (the accuracy "
            "a method may lose before it counts as a regression), optionally metric and alpha"
        )
    if spec.evaluation.sequential:
        raise StudySpecError(
            f"{source}: evaluation.seeds: a nightly study compares each method with its baseline on a list of "
            "seeds; write seeds as a list, e.g. [0, 1, 2, 3, 4, 5, 6, 7]"
        )
    tuned = [m.name for m in spec.methods if m.tuned]
    if tuned:
        raise StudySpecError(
            f"{source}: methods[{tuned[0]}].search: a nightly study runs fixed configurations; remove the search "
            "and write the value into hparams (the tuned value of a study, say)"
        )


@dataclass
class Decision:
    verdict: str  # pass | regression | broken | no-baseline
    metric: str
    margin: float
    alpha: float
    tests: list[RegressionTest] = field(default_factory=list)
    determinism: DeterminismCheck | None = None
    new_methods: list[str] = field(default_factory=list)  # no baseline run to compare with
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # method -> status counts of this run
    problems: list[str] = field(default_factory=list)  # why the run is broken

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def regressed(self) -> list[str]:
        return [t.method for t in self.tests if t.regressed]


def decide(spec: StudySpec, current: list[TrialRow], baseline: list[TrialRow] | None) -> Decision:
    """``current``, ``baseline``: trials-table rows of the two runs (``baseline`` None: there is none yet)."""
    assert spec.regression is not None
    settings = spec.regression
    decision = Decision("pass", settings.metric, settings.margin, settings.alpha)
    now = StudyResults(Path(), spec, current, {}).metric_matrix(settings.metric, "failure")
    methods = list(now.methods)
    decision.counts = {m: now.counts(m) for m in methods}
    for method, counts in decision.counts.items():
        if counts["failed"] or counts["missing"]:
            decision.problems.append(
                f"{method}: {counts['failed']} evaluation run(s) failed and {counts['missing']} are missing; "
                "see the error column of the trials table"
            )
    if baseline is None:
        decision.verdict = "broken" if decision.problems else "no-baseline"
        return decision
    then = StudyResults(Path(), spec, baseline, {}).metric_matrix(settings.metric, "failure")
    testable = [m for m in methods if np.isfinite(then.scores[:, methods.index(m)]).any()]
    decision.new_methods = [m for m in methods if m not in testable]
    if not testable:
        decision.problems.append("the baseline has no scored evaluation run of any method of this study")
    if testable:
        columns = [methods.index(m) for m in testable]
        try:
            decision.tests = regression_tests(
                now.scores[:, columns],
                then.scores[:, columns],
                testable,
                margin=settings.margin,
                alpha=settings.alpha,
                higher_is_better=higher_is_better(settings.metric),
            )
        except ValueError as error:
            decision.problems.append(f"cannot compare with the baseline: {error}")
    decision.determinism = check_determinism(rows_of(current, "eval"), rows_of(baseline, "eval"))
    if decision.problems:
        decision.verdict = "broken"
    elif decision.regressed or not decision.determinism.ok:
        decision.verdict = "regression"
    return decision


def decision_json(decision: Decision, context: dict[str, Any]) -> dict[str, Any]:
    determinism = decision.determinism
    return finite_or_none(
        {
            **context,
            "verdict": decision.verdict,
            "exit_code": decision.exit_code,
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
        }
    )


_HEADLINE = {
    "pass": "PASS: no method regressed",
    "no-baseline": "NO BASELINE: nothing to compare with",
    "regression": "REGRESSION",
    "broken": "BROKEN: the nightly could not decide",
}


def decision_markdown(decision: Decision, context: dict[str, Any]) -> str:
    lines = [f"# Nightly regression: {context['study']}", "", f"**{_HEADLINE[decision.verdict]}**"]
    if decision.regressed:
        lines[-1] += f" — {', '.join(decision.regressed)} got worse than the baseline by more than {decision.margin:g}"
    if decision.determinism is not None and decision.determinism.mismatches:
        lines[-1] += " — a run that should have reproduced its baseline exactly did not"
    lines += ["", f"- this run: `{context['run']['study_dir']}` (MLflow run `{context['run']['mlflow_run_id']}`)"]
    base = context.get("baseline")
    lines.append(f"- baseline: {base['description']}" if base else "- baseline: none")
    lines += [f"- accepted as the new baseline: {'yes' if context.get('accepted') else 'no'}", ""]
    for problem in decision.problems:
        lines.append(f"- problem: {problem}")
    if decision.tests:
        arrow = "higher" if higher_is_better(decision.metric) else "lower"
        lines += [
            (
                f"Per method, paired by seed, on `{decision.metric}` ({arrow} is better). A method regresses when a "
                f"one-sided paired t-test finds it worse than the baseline by more than δ = {decision.margin:g}, "
                f"Holm-corrected across {len(decision.tests)} method(s), at α = {decision.alpha:g}."
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
        lines.append("")
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


def _p(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3g}"


def write_decision(study_dir: Path, decision: Decision, context: dict[str, Any]) -> list[Path]:
    """``regression.json`` and ``regression.md`` in the night's folder, each written whole (temp, then rename)."""
    files = []
    for name, text in (
        ("regression.json", json_text(decision_json(decision, context))),
        ("regression.md", decision_markdown(decision, context)),
    ):
        write_text_atomically(study_dir / name, text)
        files.append(study_dir / name)
    return files
