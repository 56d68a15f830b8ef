"""A study with sequential seeds, killed for real (SIGKILL of the driver and its embedded Ray) between two rounds and
in the middle of a round, then resumed: every trial runs once, and the trials table (round column included) and
the decisions equal those of an uninterrupted run of the same study."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipeline.decisions import decide
from pipeline.results.row import TrialRow
from pipeline.results.table import read_rows
from pipeline.spec.study import load_study
from tests.study.processes import kill_tree
from tests.study.study_files import read_table, rows_recorded, run_to_end, sam_study, write_tiny_study
from tests.study.test_kills import assert_same_results, children_by_key, table, wait_for

pytestmark = pytest.mark.slow

# SGD and ASAM against a tuned SAM, seeds {start: 2, step: 2, max: 6}: on this data every comparison stays undecided
# up to 6 seeds, so the study runs rounds 0, 1 and 2 (seeds 0-1, 2-3, 4-5). One trial at a time, each long enough
# (~0.5 s) that a kill lands between two recorded rows: after the last row of a round, the next row (of the next
# round) is a whole trial away.
METHODS, SEEDS, LOOKS = ("sgd", "sam", "asam"), range(6), (2, 4, 6)
TUNING_TRIALS = 3
KEYS = {f"tune/sam/search0/trial{i}" for i in range(TUNING_TRIALS)} | {
    f"eval/{m}/seed{s}" for m in METHODS for s in SEEDS
}


def sequential_study(folder: Path) -> Path:
    study = write_tiny_study(folder, trials=TUNING_TRIALS, epochs=30, extra="max_concurrent: 1\n")
    text = study.read_text()
    for old, new in [
        ("reference: sam\n", "  - name: asam\nreference: sam\n"),
        ("evaluation: {seeds: [0, 1]}", "evaluation: {seeds: {start: 2, step: 2, max: 6}, margin: 0.01}"),
    ]:
        assert old in text
        text = text.replace(old, new)
    study.write_text(text)
    return study


def rounds(frame: pd.DataFrame) -> pd.Series:
    """The number of evaluation rows of each round."""
    return frame[frame.phase == "eval"]["round"].value_counts()


def between_rounds(frame: pd.DataFrame) -> bool:
    """Every run of round 0 recorded, and none of round 1."""
    counts = rounds(frame)
    return counts.get(0, 0) == len(METHODS) * LOOKS[0] and counts.get(1, 0) == 0


def mid_round(frame: pd.DataFrame) -> bool:
    """Some but not all runs of round 1 recorded."""
    return 0 < rounds(frame).get(1, 0) < len(METHODS) * (LOOKS[1] - LOOKS[0])


def run_until_killed(study: Path, out: Path, log: Path, when: Callable[[pd.DataFrame], bool], what: str) -> None:
    """`sam-study run` into ``out`` until its trials table is ``when``; then SIGKILL it and its embedded Ray, all
    at once, as a crash of the machine would."""
    path = out / "tiny" / "trials.parquet"
    with log.open("w") as sink:
        process = sam_study(
            "run", str(study), "--out", str(out), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: rows_recorded(path) > 0 and when(read_table(path)), what, process, timeout=300, log=log)
    finally:
        kill_tree(process)
    assert when(table(out)), f"a row was recorded between the check and the kill: not {what}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, str]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    study = sequential_study(folder)
    done = run_to_end("run", str(study), "--out", str(folder / "out"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return table(folder / "out"), done.stdout


def test_an_uninterrupted_sequential_study_runs_three_rounds_each_with_its_round(
    uninterrupted: tuple[pd.DataFrame, str],
) -> None:
    frame, stdout = uninterrupted
    assert frame.trial_key.is_unique and set(frame.trial_key) == KEYS
    assert (frame.status == "ok").all(), frame[["trial_key", "status", "error"]]
    evaluation = frame[frame.phase == "eval"]
    assert (evaluation["round"] == evaluation.seed // 2).all(), "seeds 0-1: round 0, 2-3: round 1, 4-5: round 2"
    assert frame[frame.phase == "tune"]["round"].isna().all()
    for method in ("sgd", "asam"):
        assert f"{method} against sam: undecided after 6 seeds (" in stdout


def test_a_sequential_study_killed_between_rounds_and_mid_round_resumes_to_the_uninterrupted_result(
    tmp_path: Path, uninterrupted: tuple[pd.DataFrame, str]
) -> None:
    reference, _ = uninterrupted
    study = sequential_study(tmp_path)
    out = tmp_path / "out"

    # (a) Between rounds: round 0 recorded, round 1 (whose seeds only the decisions of round 0 call for) not.
    run_until_killed(study, out, tmp_path / "a.log", between_rounds, "every round-0 row and no round-1 row")
    after_a = table(out)
    # (b) Resumed, and killed again in the middle of round 1.
    run_until_killed(study, out, tmp_path / "b.log", mid_round, "some but not all round-1 rows")
    after_b = table(out)
    assert "resuming: " in (tmp_path / "b.log").read_text()
    assert set(after_a.trial_key) < set(after_b.trial_key) < KEYS

    resumed = run_to_end("run", str(study), "--out", str(out), timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming: {len(after_b)} trial(s) done" in resumed.stdout
    final = table(out)
    assert final.trial_key.is_unique and set(final.trial_key) == KEYS, "every trial exactly once"
    # The rows written before each kill are the very rows in the end: nothing recorded was run again.
    for before in (after_a, after_b):
        recorded = before.set_index("trial_key").finished_at.to_dict()
        assert {k: v for k, v in final.set_index("trial_key").finished_at.items() if k in recorded} == recorded
    assert_same_results(final, reference)
    rows = read_rows(out / "tiny" / "trials.parquet")
    reference_rows = [TrialRow.from_record(r) for r in reference.to_dict("records")]
    assert {r.trial_key: r.round for r in rows} == {r.trial_key: r.round for r in reference_rows}
    spec = load_study(study)
    assert decide(spec, rows).to_dict() == decide(spec, reference_rows).to_dict()
    # The interrupted trials' MLflow child runs were removed on resume: one run per trial.
    assert children_by_key(f"sqlite:///{out / 'mlflow.db'}") == {key: 1 for key in KEYS}
