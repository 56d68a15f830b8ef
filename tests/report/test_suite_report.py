"""The suite report over hand-written task folders: every number it prints is recomputed here from the tasks'
own tables with ``pipeline.stats`` (itself checked against rliable and scipy), the claims' verdicts follow their
rule, and the files and figures are written whole.

Three tasks, each a sequential study ``{start: 3, step: 2, max: 7}``, δ = 0.01 (``tests.report.sequential_study``):
fsam better at 3 seeds, sgd worse at 5, asam undecided at 7, on every task, with each task's scores shifted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pipeline.cli import main
from pipeline.report.suite import is_suite_folder, write_suite_report
from pipeline.report.suite.analysis import normalised
from pipeline.report.suite.claims import HELD, MIXED, NOT_HELD, SOME, UNDECIDED, verdict
from pipeline.results.folder import SPEC_FILE, TABLE_FILE
from pipeline.results.table import read_rows, write_rows
from pipeline.spec.study import StudySpec
from pipeline.spec.suite import SUITE_FILE, AggregateSpec, ClaimSpec, PublishedSpec, SuiteSpec
from pipeline.stats import improvement_probability, paired_comparison
from tests.report.sequential_study import sequential_scores, write_sequential_study

TASKS = {"t1": 0.0, "t2": -0.05, "t3": 0.03}  # each task's scores, shifted by this much


def write_suite(root: Path, claims=(), published=(), normalisation: str = "raw") -> Path:
    suite_dir = root / "suite"
    specs = []
    for task, shift in TASKS.items():
        scores = {m: [None if v is None else v + shift for v in vs] for m, vs in sequential_scores().items()}
        built = write_sequential_study(root / "build" / task, scores)
        shutil.move(str(built), suite_dir / task)
        raw = json.loads((suite_dir / task / SPEC_FILE).read_text())
        spec = StudySpec.model_validate({**raw, "name": task})
        (suite_dir / task / SPEC_FILE).write_text(json.dumps(spec.model_dump(mode="json")))
        table = suite_dir / task / TABLE_FILE
        write_rows([r.replace(study=task) for r in read_rows(table)], table)
        specs.append(spec)
    suite = SuiteSpec(
        name="suite",
        tasks=tuple(specs),
        claims=tuple(claims),
        aggregate=AggregateSpec(normalisation=normalisation, bootstrap_reps=500),
        published=tuple(published),
    )
    (suite_dir / SUITE_FILE).write_text(json.dumps(suite.model_dump(mode="json")))
    return suite_dir


def runs(suite_dir: Path, method: str) -> np.ndarray:
    """``(max seeds, n_tasks)`` test accuracies of ``method`` from the tasks' tables, NaN where not run."""
    out = np.full((7, len(TASKS)), np.nan)
    for k, task in enumerate(TASKS):
        for r in read_rows(suite_dir / task / TABLE_FILE):
            if r.phase == "eval" and r.method == method:
                out[r.seed, k] = r.test_accuracy
    return out


@pytest.mark.parametrize(
    ("kind", "decisions", "expected"),
    [
        ("better", ["better", "better"], HELD),
        ("better", ["better", "undecided"], SOME),
        ("better", ["better", "equivalent"], SOME),
        ("better", ["better", "worse"], MIXED),
        ("better", ["worse", "undecided"], NOT_HELD),
        ("better", ["equivalent", "equivalent"], NOT_HELD),
        ("better", ["equivalent", "undecided"], UNDECIDED),
        ("better", ["undecided", "undecided"], UNDECIDED),
        ("not_worse", ["better", "equivalent"], HELD),
        ("not_worse", ["equivalent", "undecided"], SOME),
        ("not_worse", ["better", "worse"], NOT_HELD),
        ("not_worse", ["undecided", "undecided"], UNDECIDED),
    ],
)
def test_a_claims_verdict_follows_its_rule(kind: str, decisions: list[str], expected: str) -> None:
    assert verdict(kind, decisions) == expected


def test_baseline_to_best_puts_the_baseline_mean_at_0_and_the_best_mean_at_1() -> None:
    scores = np.array([[0.5, 0.7, 0.6], [0.7, 0.9, 0.8]])  # means 0.6, 0.8, 0.7
    out = normalised(scores, ("sgd", "sam", "fsam"), "baseline_to_best", "sgd")
    np.testing.assert_allclose(out.mean(axis=0), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(out[:, 0], [-0.5, 0.5])
    assert normalised(scores, ("sgd", "sam", "fsam"), "raw", "sgd") is scores
    with pytest.raises(ValueError, match="baseline sgd is the best method"):
        normalised(scores[:, [0]], ("sgd",), "baseline_to_best", "sgd")


def test_the_suite_report_recomputes_from_the_tasks_tables(tmp_path: Path) -> None:
    claims = [
        ClaimSpec(name="F-SAM beats SAM", method="fsam", against="sam"),
        ClaimSpec(name="SGD beats SAM", method="sgd", against="sam"),
        ClaimSpec(name="ASAM beats SAM", method="asam", against="sam"),
        ClaimSpec(name="F-SAM beats ASAM", method="fsam", against="asam", tasks=("t1",)),
    ]
    suite_dir = write_suite(tmp_path, claims)
    assert is_suite_folder(suite_dir) and not is_suite_folder(suite_dir / "t1")
    outcome = write_suite_report(suite_dir)
    a = outcome.analysis

    assert a.tasks == tuple(TASKS) and a.methods == ("sam", "fsam", "sgd", "asam")
    for method in a.methods:
        g = a.aggregate(method)
        x = runs(suite_dir, method)
        assert g.iqm == pytest.approx(stats.trim_mean(x[np.isfinite(x)], 0.25))
        assert g.iqm_low <= g.iqm <= g.iqm_high
        if method != "sam":
            assert g.improvement == pytest.approx(improvement_probability(x, runs(suite_dir, "sam")))
    # Every task makes the same decisions: fsam better, sgd worse, asam undecided.
    counts = {g.method: (g.wins, g.ties, g.losses) for g in a.aggregates if g.method != "sam"}
    assert counts == {"fsam": (3, 0, 0), "sgd": (0, 0, 3), "asam": (0, 3, 0)}
    means = np.nanmean(np.stack([runs(suite_dir, m) for m in a.methods], axis=2), axis=0)
    np.testing.assert_allclose(a.task_means, means)
    assert a.friedman_p == pytest.approx(stats.friedmanchisquare(*means.T).pvalue)

    verdicts = {c.name: c.verdict for c in a.claims}
    assert verdicts == {
        "F-SAM beats SAM": HELD,
        "SGD beats SAM": NOT_HELD,
        "ASAM beats SAM": UNDECIDED,
        "F-SAM beats ASAM": UNDECIDED,  # +0.0154 over 3 seeds, t interval about [-0.012, 0.042]
    }
    # A claim over every task is the same comparison as the table's: the same P(> sam) and the same interval.
    claim, g = next(c for c in a.claims if c.name == "F-SAM beats SAM"), a.aggregate("fsam")
    assert (claim.improvement, claim.improvement_low, claim.improvement_high) == (
        g.improvement,
        g.improvement_low,
        g.improvement_high,
    )
    # A pair without the reference: a paired t interval over the seeds both ran.
    [pair] = next(c for c in a.claims if c.name == "F-SAM beats ASAM").per_task
    x, y = runs(suite_dir, "fsam")[:, 0], runs(suite_dir, "asam")[:, 0]
    both = np.isfinite(x) & np.isfinite(y)
    p = paired_comparison(x[both], y[both])
    assert (pair.n, pair.estimate, pair.low, pair.high) == (3, p.mean_difference, p.ci_low, p.ci_high)
    assert p.ci_low < 0 < p.ci_high and pair.decision == "undecided"
    assert pair.rule == "paired t interval"

    report = (suite_dir / "report.md").read_text()
    assert "Claims held on every task: F-SAM beats SAM." in report
    assert "Claims not held: SGD beats SAM." in report
    assert "[t1/report.md](t1/report.md)" in report
    assert sorted(p.name for p in (suite_dir / "figures").iterdir()) == [
        "improvement.png",
        "iqm.png",
        "profiles.png",
        "task_decisions.png",
    ]
    saved = json.loads((suite_dir / "stats.json").read_text())
    assert saved["aggregates"][0]["method"] == "sam" and len(saved["figures"]) == 4
    for task in TASKS:  # each task's own report, written first
        assert (suite_dir / task / "report.md").is_file() and (suite_dir / task / "decisions.json").is_file()


def test_the_bootstrap_intervals_repeat_exactly(tmp_path: Path) -> None:
    first = write_suite_report(write_suite(tmp_path / "a")).analysis.aggregates
    second = write_suite_report(write_suite(tmp_path / "b")).analysis.aggregates
    assert first == second


def test_a_published_table_is_set_beside_the_first_seeds_and_every_seed(tmp_path: Path) -> None:
    published = [PublishedSpec(source="paper", task="t2", seeds=3, values={"sam": (0.85, 0.004), "fsam": (0.99, 0.0)})]
    suite_dir = write_suite(tmp_path, published=published)
    rows = {r.method: r for r in write_suite_report(suite_dir).analysis.published}
    sam = runs(suite_dir, "sam")[:, 1]
    assert rows["sam"].first_mean == pytest.approx(sam[:3].mean())
    assert rows["sam"].first_std == pytest.approx(sam[:3].std(ddof=0))
    assert rows["sam"].runs == 7 and rows["sam"].mean == pytest.approx(sam.mean())
    half = stats.t.ppf(0.975, 6) * sam.std(ddof=1) / np.sqrt(7)
    assert (rows["sam"].low, rows["sam"].high) == pytest.approx((sam.mean() - half, sam.mean() + half))
    assert rows["sam"].inside is True and rows["fsam"].inside is False
    assert "## Published figures beside ours" in (suite_dir / "report.md").read_text()


def test_normalised_scores_run_from_the_baseline_to_the_best(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path, normalisation="baseline_to_best")
    a = write_suite_report(suite_dir).analysis
    means = np.array(a.task_means)
    sgd, best = a.methods.index("sgd"), means.max(axis=1)
    np.testing.assert_allclose(means[:, sgd], 0.0, atol=1e-12)
    np.testing.assert_allclose(best, 1.0)
    assert a.normalisation == "baseline_to_best" and not a.problems


def test_sam_study_report_writes_a_suite_folders_reports_and_refuses_a_study_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite_dir = write_suite(tmp_path)
    assert main(["report", str(suite_dir), "--metric", "val_accuracy"]) == 2
    assert "--metric apply to a study folder" in capsys.readouterr().err
    assert not (suite_dir / "report.md").exists()
    assert main(["report", str(suite_dir), "--no-mlflow"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Across 3 tasks (test accuracy, raw scores), fsam has the highest IQM")
    assert f"suite report: {suite_dir / 'report.md'}" in out
    assert (suite_dir / "report.md").is_file() and (suite_dir / "t2" / "report.md").is_file()
