"""A resumed study reads its tuning trials back from Parquet: a failed trial that never reported has no wall time
(NaN in the column). Its selection.json must still be JSON, and its tuning time the same as an uninterrupted run's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline._io import json_text, write_json_atomically
from pipeline.results.selection import select_all
from pipeline.results.table import TrialsTable
from pipeline.spec.study import parse_study
from tests.rows import make_row

SPEC = parse_study(
    {
        "name": "s",
        "data": {"name": "synthetic"},
        "model": {"name": "mlp"},
        "methods": [{"name": "sam", "search": {"rho": {"low": 0.01, "high": 0.5}}}],
        "reference": "sam",
        "tuning": {"trials": 3, "startup_trials": 1},
        "evaluation": {"seeds": [0, 1]},
    }
)


def tuning_rows() -> list:
    def tune(index: int, status: str, wall: float | None, val: float | None):
        return make_row(
            study="s", phase="tune", method="sam", trial_key=f"tune/sam/search0/trial{index}", search=0,
            trial_index=index, status=status, wall_time_s=wall, val_accuracy=val, val_loss=0.5,
            params_json=json.dumps({"rho": 0.01 * (index + 1)}),
        )  # fmt: skip

    # Trial 1 failed before its first report: Ray never gave it a clock, so the row has no wall time.
    return [tune(0, "ok", 2.5, 0.8), tune(1, "failed", None, None), tune(2, "ok", 3.25, 0.85)]


def test_a_resumed_study_writes_a_json_selection_with_the_uninterrupted_tuning_time(tmp_path: Path) -> None:
    rows = tuning_rows()
    table = TrialsTable(tmp_path / "trials.parquet")
    for row in rows:
        table.append(row)
    uninterrupted = select_all(SPEC, rows)["sam"]
    resumed = select_all(SPEC, TrialsTable(tmp_path / "trials.parquet").rows())["sam"]  # read back from Parquet

    path = tmp_path / "selection.json"
    write_json_atomically(path, {"sam": resumed.to_dict()})
    text = path.read_text()
    assert "NaN" not in text
    loaded = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in selection.json"))
    assert loaded["sam"]["tuning_time_s"] == uninterrupted.tuning_time_s == 2.5 + 3.25
    assert resumed == uninterrupted
    assert loaded["sam"]["tuning_failed"] == 1 and loaded["sam"]["params"] == {"rho": 0.03}


def test_no_json_file_holds_a_non_finite_number() -> None:
    text = json_text({"a": math.nan, "b": [math.inf, 1.0], "c": {"d": -math.inf}})
    assert json.loads(text) == {"a": None, "b": [None, 1.0], "c": {"d": None}}
    with pytest.raises(TypeError):
        json_text({"e": object()})  # what JSON cannot hold fails loudly, it is never written half-way
