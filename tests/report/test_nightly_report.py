"""The nightly's report files from typed records: ``regression.json`` keeps the keys it had when it was built from a
dict, and each verdict has an exit status of its own name in the one table."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.cli.exit_codes import NIGHTLY_EXIT, ExitCode
from pipeline.decisions.nightly import decide_night
from pipeline.report.nightly import Baseline, Night, write_night
from pipeline.spec.study import parse_study
from tests.rows import make_row

SPEC = parse_study(
    {
        "name": "n",
        "data": {"name": "synthetic"},
        "model": {"name": "mlp", "hidden": [8]},
        "methods": [{"name": "sgd"}, {"name": "sam"}],
        "reference": "sam",
        "evaluation": {"seeds": [0, 1, 2]},
        "regression": {"margin": 0.02},
    }
)


def rows(shift: float) -> list:
    return [
        make_row(study="n", method=m, seed=s, test_accuracy=0.9 + 0.01 * s + shift, status="ok")
        for m in ("sgd", "sam")
        for s in range(3)
    ]


def test_regression_json_has_the_keys_of_each_kind_of_baseline(tmp_path: Path) -> None:
    decision = decide_night(SPEC, rows(-0.3), rows(0.0))
    assert decision.verdict == "regression" and NIGHTLY_EXIT[decision.verdict] == ExitCode.REGRESSION
    for baseline, keys in (
        (Baseline.from_file(Path("/t/trials.parquet")), ["source", "path", "description"]),
        (Baseline.from_mlflow("rid", "/o/n/1"), ["source", "mlflow_run_id", "study_dir", "description"]),
    ):
        night = Night("n", tmp_path, "prid", baseline, False, int(NIGHTLY_EXIT[decision.verdict]))
        written, markdown = write_night(decision, night)
        data = json.loads(written.read_text())
        assert list(data)[:6] == ["study", "run", "baseline", "accepted", "verdict", "exit_code"]
        assert data["run"] == {"study_dir": str(tmp_path), "mlflow_run_id": "prid"}
        assert list(data["baseline"]) == keys and data["exit_code"] == 5
        assert f"- baseline: {baseline.description}" in markdown.read_text()


def test_every_exit_status_has_one_name_and_the_nightly_s_verdicts_map_into_the_table() -> None:
    assert len(ExitCode.__members__) == len(ExitCode)  # no alias: ExitCode(n).name says what n means
    assert ExitCode(1).name == "INCOMPLETE" and ExitCode(5).name == "REGRESSION"
    assert {v: c.name for v, c in NIGHTLY_EXIT.items()} == {
        "pass": "OK",
        "no-baseline": "OK",
        "regression": "REGRESSION",
        "broken": "BAD_INPUT",
    }
