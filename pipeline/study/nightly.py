"""The nightly regression decision: one night's fixed study against the last accepted baseline.

``check_nightly_spec`` refuses a study the nightly cannot decide on; ``decide`` compares the two runs'
evaluation rows (the statistical test of ``pipeline.stats.regression`` and the exact-reproduction check of
``determinism``); ``write_decision`` writes ``regression.json`` and ``regression.md``. Running the study and
talking to MLflow is the command's job (``cli_nightly``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline._io import finite_or_none, json_text, write_text_atomically
from pipeline.report.decisions import MethodDecision, StudyDecisions, cut_at_first_gap
from pipeline.results.row import TrialRow
from pipeline.results.study_results import MetricMatrix, higher_is_better, metric_matrix, rows_of
from pipeline.spec.study import SequentialSeeds, StudySpec, StudySpecError
from pipeline.stats.regression import RegressionTest, regression_tests
from pipeline.stats.sequential import Look, Schedule, sequential_decisions
from pipeline.study.determinism import DeterminismCheck, check_determinism

EXIT_CODES = {"pass": 0, "no-baseline": 0, "regression": 1, "broken": 2}


def check_nightly_spec(spec: StudySpec, source: str) -> None:
    """A nightly runs fixed configurations and needs its margin: say which field is wrong before anything runs."""
    if spec.regression is None:
        raise StudySpecError(
            f"{source}: regression: missing; a nightly study needs `regression: {{margin: 0.01}}` (the accuracy "
            "a method may lose before it counts as a regression), optionally metric and alpha"
        )
    tuned = [m.name for m in spec.methods if m.tuned]
    if tuned:
        raise StudySpecError(
            f"{source}: methods[{tuned[0]}].search: a nightly study runs fixed configurations; remove the search "
            "and write the value into hparams (the tuned value of a study, say)"
        )


NON_INFERIOR, REGRESSED = "non-inferior", "regressed"
BASELINE = "<baseline>"  # the StudyDecisions' reference: no method can be named so


def baseline_rounds(
    spec: StudySpec, baseline: list[TrialRow] | None
) -> Callable[[list[TrialRow]], StudyDecisions | None]:
    """What a nightly with sequential seeds runs next, from the night's rows: each method's next look against its
    own baseline (``against_baseline``). Without a baseline (the first night) every seed runs: a full baseline."""
    if baseline is None:
        return lambda rows: None
    return lambda rows: against_baseline(spec, rows, baseline)


def against_baseline(spec: StudySpec, current: list[TrialRow], baseline: list[TrialRow]) -> StudyDecisions:
    """Each method against its baseline runs, paired by seed, after every round of ``evaluation.seeds``.

    ``sequential_decisions`` is run on (this run − baseline) + δ, oriented so that higher is better: a method is
    non-inferior once the repeated interval of its change lies above −δ, and regressed once it lies below −δ, with
    α (``regression.alpha``) split over the methods and looks. The looks are reported as the change itself. A seed
    the baseline lacks ends a comparison there; a method without any baseline run gets every seed (next night's
    baseline has it whole)."""
    assert spec.regression is not None and isinstance(spec.evaluation.seeds, SequentialSeeds)
    settings, rounds = spec.regression, spec.evaluation.seeds
    now = metric_matrix(spec, current, settings.metric, "failure")
    then = metric_matrix(spec, baseline, settings.metric, "failure")
    sign = 1.0 if higher_is_better(settings.metric) else -1.0
    change = sign * (now.scores - then.scores)
    shifted, stops = cut_at_first_gap(
        change + settings.margin, _without_a_baseline_score(now.status, then.status, now.seeds)
    )
    schedule = Schedule(rounds.start, rounds.step, rounds.max)
    compared = sequential_decisions(shifted, schedule, alpha=settings.alpha, n_family=len(now.methods))
    spent = (now.status != "missing").sum(axis=0)
    methods = []
    for j, c in enumerate(compared):
        looks = tuple(_as_change(look, settings.margin) for look in c.looks)
        next_n = None if stops[j] is not None else c.next_n
        if not np.isfinite(then.scores[:, j]).any():
            next_n, stops[j] = (rounds.max if spent[j] < rounds.max else None), None
        methods.append(MethodDecision(now.methods[j], looks, next_n, int(spent[j]), stops[j]))
    return StudyDecisions(
        BASELINE, settings.metric, settings.alpha, settings.margin, schedule.looks, now.seeds, tuple(methods), 0
    )


def _as_change(look: Look, margin: float) -> Look:
    decision = {"better": NON_INFERIOR, "worse": REGRESSED}.get(look.decision, look.decision)
    return replace(
        look,
        estimate=look.estimate - margin,
        ci_low=look.ci_low - margin,
        ci_high=look.ci_high - margin,
        eq_low=look.eq_low - margin,
        eq_high=look.eq_high - margin,
        decision=decision,
    )


def _without_a_baseline_score(now: np.ndarray, then: np.ndarray, seeds: tuple[int, ...]):
    """``why`` for ``cut_at_first_gap``: the night's run failed (or has no score), or the baseline has none."""

    def why(i: int, j: int) -> str | None:
        if now[i, j] not in ("ok", "missing"):
            return f"its run on seed {seeds[i]} {now[i, j]}"
        if then[i, j] != "ok":
            return f"the baseline has no score on seed {seeds[i]} ({then[i, j]})"
        return None

    return why


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
    rounds: StudyDecisions | None = None  # sequential seeds: each method's looks against its baseline

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def regressed(self) -> list[str]:
        if self.rounds is not None:
            return [m.method for m in self.rounds.methods if m.decision == REGRESSED]
        return [t.method for t in self.tests if t.regressed]


def decide(spec: StudySpec, current: list[TrialRow], baseline: list[TrialRow] | None) -> Decision:
    """``current``, ``baseline``: trials-table rows of the two runs (``baseline`` None: there is none yet)."""
    assert spec.regression is not None
    settings = spec.regression
    decision = Decision("pass", settings.metric, settings.margin, settings.alpha)
    now = metric_matrix(spec, current, settings.metric, "failure")
    methods = list(now.methods)
    if spec.evaluation.sequential and baseline is not None:
        decision.rounds = against_baseline(spec, current, baseline)
    decision.counts = {m: _counts(now, m, decision.rounds) for m in methods}
    for method, counts in decision.counts.items():
        if counts["failed"] or counts["missing"]:
            decision.problems.append(
                f"{method}: {counts['failed']} evaluation run(s) failed and {counts['missing']} are missing; "
                "see the error column of the trials table"
            )
    if baseline is None:
        decision.verdict = "broken" if decision.problems else "no-baseline"
        return decision
    then = metric_matrix(spec, baseline, settings.metric, "failure")
    testable = [m for m in methods if np.isfinite(then.scores[:, methods.index(m)]).any()]
    decision.new_methods = [m for m in methods if m not in testable]
    if not testable:
        decision.problems.append("the baseline has no scored evaluation run of any method of this study")
    if testable and decision.rounds is None:
        _test_fixed(decision, now, then, testable)
    decision.determinism = check_determinism(rows_of(current, "eval"), rows_of(baseline, "eval"))
    if decision.problems:
        decision.verdict = "broken"
    elif decision.regressed or not decision.determinism.ok:
        decision.verdict = "regression"
    return decision


def _counts(now: MetricMatrix, method: str, rounds: StudyDecisions | None) -> dict[str, int]:
    """Status counts of ``method``'s runs; with sequential rounds, of the seeds its looks needed only."""
    counts = now.counts(method)
    if rounds is None:
        return counts
    [m] = [m for m in rounds.methods if m.method == method]
    needed = m.next_n if m.next_n is not None else max([look.n for look in m.looks] + [m.seeds_spent])
    column = now.status[:needed, now.methods.index(method)]
    return {s: int((column == s).sum()) for s in counts}


def _test_fixed(decision: Decision, now: MetricMatrix, then: MetricMatrix, testable: list[str]) -> None:
    """A list of seeds: one Holm-corrected one-sided t-test per method (``pipeline.stats.regression``)."""
    columns = [list(now.methods).index(m) for m in testable]
    try:
        decision.tests = regression_tests(
            now.scores[:, columns],
            then.scores[:, columns],
            testable,
            margin=decision.margin,
            alpha=decision.alpha,
            higher_is_better=higher_is_better(decision.metric),
        )
    except ValueError as error:
        decision.problems.append(f"cannot compare with the baseline: {error}")


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
            "rounds": None if decision.rounds is None else decision.rounds.to_dict(),
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


def _rounds_markdown(decision: Decision, rounds: StudyDecisions) -> list[str]:
    arrow = "higher" if higher_is_better(decision.metric) else "lower"
    lines = [
        (
            f"Per method, paired by seed, on `{decision.metric}` ({arrow} is better), in rounds of seeds (looks at "
            f"{', '.join(str(n) for n in rounds.looks)}): a method passes once the repeated interval of its change "
            f"lies above −δ = {-decision.margin:g}, and regresses once it lies below −δ; α = {decision.alpha:g} is "
            "split over the methods and looks (docs/sequential.md), so the night may stop early. A method still "
            "undecided at its last look has not been shown to regress."
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
