"""The nightly's verdict: one night's fixed study against the last accepted baseline.

``decide_night`` compares the two runs' evaluation rows: with a list of seeds, the statistical test of
``pipeline.stats.regression``; with sequential seeds, the rounds of ``decide(spec, rows, baseline=...)``; and in
both, the exact-reproduction check of ``determinism``. Writing it down is ``pipeline.report.nightly``'s job, the
exit status the command's (``pipeline.cli.exit_codes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pipeline.decisions.determinism import DeterminismCheck, check_determinism
from pipeline.decisions.engine import REGRESSED, decide
from pipeline.decisions.records import StudyDecisions
from pipeline.results.row import TrialRow
from pipeline.results.study_results import MetricMatrix, higher_is_better, metric_matrix, rows_of
from pipeline.spec.study import StudySpec
from pipeline.stats.regression import RegressionTest, regression_tests

Verdict = Literal["pass", "no-baseline", "regression", "broken"]


@dataclass(frozen=True)
class NightDecision:
    verdict: Verdict
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
    def regressed(self) -> list[str]:
        return _regressed(self.tests, self.rounds)


def decide_night(spec: StudySpec, current: list[TrialRow], baseline: list[TrialRow] | None) -> NightDecision:
    """``current``, ``baseline``: trials-table rows of the two runs (``baseline`` None: there is none yet)."""
    if spec.regression is None:
        raise ValueError("decide_night() is for studies with `regression` settings")
    settings = spec.regression
    now = metric_matrix(spec, current, settings.metric, "failure")
    methods = list(now.methods)
    rounds = decide(spec, current, baseline=baseline) if spec.evaluation.sequential and baseline is not None else None
    counts = {m: _counts(now, m, rounds) for m in methods}
    problems = [
        f"{method}: {c['failed']} evaluation run(s) failed and {c['missing']} are missing; "
        "see the error column of the trials table"
        for method, c in counts.items()
        if c["failed"] or c["missing"]
    ]
    stated = (settings.metric, settings.margin, settings.alpha)
    if baseline is None:
        verdict = "broken" if problems else "no-baseline"
        return NightDecision(verdict, *stated, counts=counts, problems=problems, rounds=rounds)
    then = metric_matrix(spec, baseline, settings.metric, "failure")
    testable = [m for m in methods if np.isfinite(then.scores[:, methods.index(m)]).any()]
    if not testable:
        problems.append("the baseline has no scored evaluation run of any method of this study")
    tests: list[RegressionTest] = []
    if testable and rounds is None:
        tests = _test_fixed(now, then, testable, *stated, problems)
    determinism = check_determinism(rows_of(current, "eval"), rows_of(baseline, "eval"))
    verdict: Verdict = "pass"
    if problems:
        verdict = "broken"
    elif _regressed(tests, rounds) or not determinism.ok:
        verdict = "regression"
    new_methods = [m for m in methods if m not in testable]
    return NightDecision(verdict, *stated, tests, determinism, new_methods, counts, problems, rounds)


def _regressed(tests: list[RegressionTest], rounds: StudyDecisions | None) -> list[str]:
    if rounds is not None:
        return [m.method for m in rounds.methods if m.decision == REGRESSED]
    return [t.method for t in tests if t.regressed]


def _counts(now: MetricMatrix, method: str, rounds: StudyDecisions | None) -> dict[str, int]:
    """Status counts of ``method``'s runs; with sequential rounds, of the seeds its looks needed only."""
    counts = now.counts(method)
    if rounds is None:
        return counts
    [m] = [m for m in rounds.methods if m.method == method]
    needed = m.next_n if m.next_n is not None else max([look.n for look in m.looks] + [m.seeds_spent])
    column = now.status[:needed, now.methods.index(method)]
    return {s: int((column == s).sum()) for s in counts}


def _test_fixed(
    now: MetricMatrix,
    then: MetricMatrix,
    testable: list[str],
    metric: str,
    margin: float,
    alpha: float,
    problems: list[str],
) -> list[RegressionTest]:
    """A list of seeds: one Holm-corrected one-sided t-test per method (``pipeline.stats.regression``); a
    comparison that cannot be made is added to ``problems``."""
    columns = [list(now.methods).index(m) for m in testable]
    try:
        return regression_tests(
            now.scores[:, columns],
            then.scores[:, columns],
            testable,
            margin=margin,
            alpha=alpha,
            higher_is_better=higher_is_better(metric),
        )
    except ValueError as error:
        problems.append(f"cannot compare with the baseline: {error}")
        return []
