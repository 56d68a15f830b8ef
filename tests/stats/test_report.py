"""`sam-study report` on hand-written study folders: the verdict on known margins, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pipeline.cli import main
from pipeline.results.folder import REPORT_FILE, STATS_FILE
from tests.stats.synthetic_study import write_study

FIGURES = ("accuracy.png", "differences.png", "critical_difference.png", "tuning.png", "lets_rho.png", "compute.png")


def known_margin_scores(n: int = 10) -> dict[str, list[float]]:
    """fsam is better than sam by 0.02 on every seed up to small noise; asam is sam plus noise that cancels
    exactly (mean difference 0); sgd is a little worse."""
    rng = np.random.default_rng(7)
    sam = rng.normal(0.90, 0.01, n)
    half = rng.normal(0.0, 0.006, n // 2)
    cancelling = np.concatenate([half, -half, np.zeros(n % 2)])
    return {
        "sam": list(sam),
        "fsam": list(sam + 0.02 + rng.normal(0.0, 0.004, n)),
        "asam": list(sam + cancelling),
        "sgd": list(sam - 0.01 + rng.normal(0.0, 0.004, n)),
        "lets-sam": list(sam + rng.normal(0.0, 0.01, n)),
    }


def report(study_dir: Path, *options: str) -> int:
    return main(["report", str(study_dir), "--no-mlflow", *options])


def test_known_margin_is_significant_after_holm_and_no_difference_is_not(tmp_path: Path, capsys) -> None:
    scores = known_margin_scores()
    study_dir = write_study(tmp_path, scores)
    assert report(study_dir) == 0
    out = capsys.readouterr().out

    result = json.loads((study_dir / STATS_FILE).read_text())
    versus = {v["method"]: v for v in result["comparison"]["versus_reference"]}
    assert versus["fsam"]["outcome"] == "better" and versus["fsam"]["significant"]
    assert versus["asam"]["outcome"] == "no significant difference" and not versus["asam"]["significant"]
    assert versus["asam"]["paired"]["mean_difference"] == pytest.approx(0.0, abs=1e-12)

    # The same numbers straight from scipy: paired t p-values, Holm by hand over the 4 comparisons.
    ref = np.array(scores["sam"])
    others = ["fsam", "asam", "sgd", "lets-sam"]
    raw = {m: stats.ttest_rel(np.array(scores[m]), ref).pvalue for m in others}
    order = sorted(others, key=raw.get)
    holm, running = {}, 0.0
    for i, m in enumerate(order):
        running = max(running, min(1.0, (len(others) - i) * raw[m]))
        holm[m] = running
    for m in others:
        assert versus[m]["paired"]["t_p_value"] == pytest.approx(raw[m])
        assert versus[m]["t_p_adjusted"] == pytest.approx(holm[m])
    assert holm["fsam"] < 0.05 < holm["asam"]
    ci = stats.ttest_rel(np.array(scores["fsam"]), ref).confidence_interval()
    assert (versus["fsam"]["paired"]["ci_low"], versus["fsam"]["paired"]["ci_high"]) == pytest.approx((ci.low, ci.high))

    verdict = result["verdict"]
    fsam = versus["fsam"]["paired"]
    assert f"fsam is significantly better than sam: fsam ({fsam['mean_difference']:+.4f}, 95% CI" in verdict
    assert f"[{fsam['ci_low']:+.4f}, {fsam['ci_high']:+.4f}]" in verdict
    assert "Sgd is significantly worse" in verdict or "sgd is significantly worse" in verdict.lower()
    assert "asam" not in verdict.split("significantly better")[1].split(".")[0]
    assert verdict in out
    text = (study_dir / REPORT_FILE).read_text()
    assert text.index("## Verdict") < text.index("## Results") < text.index("## Figures") < text.index("## Method")
    assert verdict in text
    for name in FIGURES:
        assert (study_dir / "figures" / name).stat().st_size > 1000, name
        assert f"figures/{name}" in text
    # Compute: fsam's gain over SGD, per extra SGD-run of time, from the measured run times.
    cost = {c["method"]: c for c in result["costs"]}
    gain = np.mean(scores["fsam"]) - np.mean(scores["sgd"])
    assert cost["fsam"]["gain_vs_sgd"] == pytest.approx(gain)
    assert cost["fsam"]["gain_per_extra_sgd_run"] == pytest.approx(gain / ((1.05 * 4 + 1) / (0.5 * 4 + 1) - 1))
    lets = result["tuned_vs_lets"][0]
    assert (lets["lets_method"], lets["tuned_method"], lets["tuning_trials"]) == ("lets-sam", "sam", 3)
    assert lets["tuned_cost_per_model_s"] == pytest.approx(3 * (1.0 * 4 + 1) + (1.0 * 4 + 1))


def test_bh_and_wilcoxon_on_request(tmp_path: Path) -> None:
    scores = known_margin_scores()
    study_dir = write_study(tmp_path, scores)
    assert report(study_dir, "--correction", "bh", "--test", "wilcoxon", "--alternative", "better") == 0
    result = json.loads((study_dir / STATS_FILE).read_text())
    assert result["statistics"] == {**result["statistics"], "correction": "bh", "test": "wilcoxon"}
    versus = {v["method"]: v for v in result["comparison"]["versus_reference"]}
    ref = np.array(scores["sam"])
    others = ["fsam", "asam", "sgd", "lets-sam"]
    raw = [versus[m]["paired"]["wilcoxon_p_value"] for m in others]
    direct = stats.wilcoxon(np.array(scores["fsam"]) - ref, alternative="greater", method="exact").pvalue
    assert raw[0] == pytest.approx(direct)
    bh = stats.false_discovery_control(raw, method="bh")
    assert [versus[m]["p_adjusted"] for m in others] == pytest.approx(list(bh))
    assert versus["fsam"]["outcome"] == "better"


def test_a_diverged_run_counts_as_a_failure_and_is_reported(tmp_path: Path) -> None:
    scores = known_margin_scores(6)
    statuses = {"fsam": ["ok", "diverged", "ok", "ok", "ok", "ok"]}
    study_dir = write_study(tmp_path, scores, statuses=statuses)
    assert report(study_dir) == 0
    result = json.loads((study_dir / STATS_FILE).read_text())
    fsam = result["methods"].index("fsam")
    assert result["scores"][1][fsam] == 0.0
    counts = {c["method"]: c for c in result["run_counts"]}
    assert counts["fsam"] == {
        "method": "fsam",
        "ok": 5,
        "diverged": 1,
        "failed": 0,
        "missing": 0,
        "scored_as_failure": 1,
    }
    assert "count as failures" in " ".join(result["notes"])
    assert "1 diverged run(s) are counted as failures" in result["verdict"]
    # Excluding it instead drops that seed from fsam's pairs.
    assert report(study_dir, "--diverged", "exclude") == 0
    result = json.loads((study_dir / STATS_FILE).read_text())
    assert next(v for v in result["comparison"]["versus_reference"] if v["method"] == "fsam")["n_pairs"] == 5


def test_a_loss_metric_is_better_when_lower(tmp_path: Path) -> None:
    scores = known_margin_scores()
    study_dir = write_study(tmp_path, scores)
    assert report(study_dir, "--metric", "val_loss") == 0  # every run has val_loss 0.5: no differences
    result = json.loads((study_dir / STATS_FILE).read_text())
    assert result["higher_is_better"] is False
    assert all(v["outcome"] == "no significant difference" for v in result["comparison"]["versus_reference"])


# ------------------------------------------------------------------------------------------------- bad input


def _written(study_dir: Path) -> None:
    assert (study_dir / REPORT_FILE).exists() and (study_dir / STATS_FILE).exists()
    json.loads((study_dir / STATS_FILE).read_text())


def test_a_missing_method_writes_what_it_can_and_exits_1(tmp_path: Path, capsys) -> None:
    scores = known_margin_scores(5)
    study_dir = write_study(tmp_path, scores, spec_methods=[*scores, "xsam"])
    assert report(study_dir) == 1
    err = capsys.readouterr().err
    assert "incomplete: no evaluation run of xsam is in the trials table" in err
    assert "Traceback" not in err
    _written(study_dir)
    result = json.loads((study_dir / STATS_FILE).read_text())
    xsam = next(v for v in result["comparison"]["versus_reference"] if v["method"] == "xsam")
    assert xsam["outcome"] == "not tested"
    assert next(v for v in result["comparison"]["versus_reference"] if v["method"] == "fsam")["paired"] is not None
    assert (study_dir / "figures" / "differences.png").exists()


def test_a_missing_reference_says_there_is_no_verdict(tmp_path: Path, capsys) -> None:
    scores = known_margin_scores(5)
    del scores["sam"]
    study_dir = write_study(tmp_path, scores, spec_methods=["sam", *scores])
    assert report(study_dir) == 1
    assert "no evaluation run of sam" in capsys.readouterr().err
    _written(study_dir)
    assert json.loads((study_dir / STATS_FILE).read_text())["verdict"].startswith("No verdict: sam, the reference")


def test_a_single_seed_writes_what_it_can_and_exits_1(tmp_path: Path, capsys) -> None:
    scores = {m: v[:1] for m, v in known_margin_scores(2).items()}
    study_dir = write_study(tmp_path, scores, seeds=[0])
    assert report(study_dir) == 1
    err = capsys.readouterr().err
    assert "only one seed has a score" in err and "Traceback" not in err
    _written(study_dir)
    result = json.loads((study_dir / STATS_FILE).read_text())
    assert result["verdict"].startswith("No verdict")
    assert (study_dir / "figures" / "accuracy.png").exists()


def test_only_diverged_runs_write_what_they_can_and_exit_1(tmp_path: Path, capsys) -> None:
    scores = known_margin_scores(3)
    statuses = {m: ["diverged"] * 3 for m in scores}
    study_dir = write_study(tmp_path, scores, statuses=statuses)
    assert report(study_dir) == 1
    err = capsys.readouterr().err
    assert "every evaluation run diverged" in err and "Traceback" not in err
    _written(study_dir)
    result = json.loads((study_dir / STATS_FILE).read_text())
    assert result["verdict"].startswith("No verdict: no evaluation run trained successfully")
    assert all(c["diverged"] == 3 and c["scored_as_failure"] == 3 for c in result["run_counts"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nowhere", "no such study folder"),
        (lambda d: d, "spec.json: not found"),
        (lambda d: _without_table(d), "trials.parquet: not found"),
        (lambda d: _damaged_table(d), "cannot be read as Parquet"),
        (lambda d: _damaged_spec(d), "cannot be read as a study spec"),
    ],
    ids=["no-folder", "no-spec", "no-table", "damaged-table", "damaged-spec"],
)
def test_an_unusable_folder_exits_2_naming_the_file(tmp_path: Path, capsys, make, message) -> None:
    study_dir = make(tmp_path)
    assert report(study_dir) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (Path(study_dir) / REPORT_FILE).exists()


def test_a_bad_option_exits_2_naming_it(tmp_path: Path, capsys) -> None:
    study_dir = write_study(tmp_path, known_margin_scores(4))
    assert report(study_dir, "--alpha", "1.5") == 2
    assert "--alpha: " in capsys.readouterr().err
    assert not (study_dir / REPORT_FILE).exists()


def _without_table(folder: Path) -> Path:
    study_dir = write_study(folder, known_margin_scores(4))
    (study_dir / "trials.parquet").unlink()
    return study_dir


def _damaged_table(folder: Path) -> Path:
    study_dir = write_study(folder, known_margin_scores(4))
    (study_dir / "trials.parquet").write_bytes(b"PAR1 not really")
    return study_dir


def _damaged_spec(folder: Path) -> Path:
    study_dir = write_study(folder, known_margin_scores(4))
    (study_dir / "spec.json").write_text('{"name": "x"}')
    return study_dir
