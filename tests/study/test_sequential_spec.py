"""``evaluation.seeds`` as sequential rounds ``{start, step, max}`` and ``evaluation.margin``: every bad value is
refused at the door naming the field, by ``parse_study`` and by `sam-study run` (exit 2, nothing created); a good
one means what it says, and a list of seeds is unchanged."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.cli import main
from pipeline.spec.study import SequentialSeeds, StudySpec, StudySpecError, parse_study
from pipeline.stats.sequential import Schedule
from tests.study.study_files import write_tiny_study

ROUNDS = {"start": 2, "step": 2, "max": 6}


def raw_study(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "s",
        "data": {"name": "synthetic"},
        "model": {"name": "mlp"},
        "methods": [{"name": "sgd"}, {"name": "sam"}],
        "reference": "sam",
        "evaluation": evaluation,
    }


def parse(evaluation: dict[str, Any]) -> StudySpec:
    return parse_study(raw_study(evaluation), "seq.yaml")


# (evaluation, the field the error names, a phrase of the message)
BAD = [
    pytest.param(
        {"seeds": {**ROUNDS, "start": 1}},
        "evaluation.seeds.start",
        "greater than or equal to 2 (got 1)",
        id="start-below-2",
    ),
    pytest.param(
        {"seeds": {**ROUNDS, "step": 0}},
        "evaluation.seeds.step",
        "greater than or equal to 1 (got 0)",
        id="step-below-1",
    ),
    pytest.param(
        {"seeds": {"start": 5, "step": 2, "max": 4}},
        "evaluation.seeds.max",
        "must be >= start (5), got 4",
        id="max-below-start",
    ),
    pytest.param({"seeds": {"start": 2, "step": 2}}, "evaluation.seeds.max", "Field required", id="max-missing"),
    pytest.param(
        {"seeds": {**ROUNDS, "min": 1}},
        "evaluation.seeds.min",
        "unknown key",
        id="unknown-key-in-seeds",
    ),
    pytest.param(
        {"seeds": {**ROUNDS, "start": 2.5}},
        "evaluation.seeds.start",
        "fractional part",
        id="start-fraction",
    ),
    pytest.param(
        {"seeds": ROUNDS, "margin": -0.01},
        "evaluation.margin",
        "greater than or equal to 0 (got -0.01)",
        id="margin-negative",
    ),
    pytest.param(
        {"seeds": ROUNDS, "margin": math.inf},
        "evaluation.margin",
        "finite number (got inf)",
        id="margin-inf",
    ),
    pytest.param(
        {"seeds": ROUNDS, "margin": math.nan},
        "evaluation.margin",
        "finite number (got nan)",
        id="margin-nan",
    ),
    pytest.param(
        {"seeds": [0, 1, 2], "margin": 0.01},
        "evaluation.margin",
        "applies to sequential seeds only",
        id="margin-with-a-list",
    ),
    pytest.param({"seeds": "0,1"}, "evaluation.seeds", "must be a list of seeds", id="seeds-string"),
    pytest.param({"seeds": 5}, "evaluation.seeds", "must be a list of seeds", id="seeds-number"),
]


@pytest.mark.parametrize(("evaluation", "field", "phrase"), BAD)
def test_a_bad_sequential_value_is_refused_naming_the_field(evaluation: dict, field: str, phrase: str) -> None:
    with pytest.raises(StudySpecError) as caught:
        parse(evaluation)
    message = str(caught.value)
    assert message.startswith(f"seq.yaml: {field}: "), message
    assert phrase in message, message


@pytest.mark.parametrize(("evaluation", "field", "phrase"), BAD)
def test_run_refuses_a_bad_sequential_value_with_exit_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], evaluation: dict, field: str, phrase: str
) -> None:
    study = write_tiny_study(tmp_path)
    raw = yaml.safe_load(study.read_text())
    raw["evaluation"] = evaluation
    study.write_text(yaml.safe_dump(raw))  # inf and nan as YAML writes them: .inf, .nan
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{study}: {field}: " in err and phrase in err, err
    assert "Traceback" not in err
    assert not out.exists(), "nothing may be created for a bad study"


@pytest.mark.parametrize(
    ("start", "step", "maximum"),
    [(2, 2, 6), (3, 2, 7), (5, 5, 40), (5, 5, 42), (4, 10, 9), (3, 1, 3), (2, 3, 2)],
)
def test_a_sequential_spec_runs_seeds_0_to_max_in_the_looks_of_its_schedule(
    start: int, step: int, maximum: int
) -> None:
    spec = parse({"seeds": {"start": start, "step": step, "max": maximum}, "margin": 0.01})
    evaluation = spec.evaluation
    assert evaluation.sequential and isinstance(evaluation.seeds, SequentialSeeds)
    assert evaluation.seed_list == tuple(range(maximum))
    assert evaluation.seeds.looks == Schedule(start, step, maximum).looks
    assert evaluation.seeds.looks[0] == start and evaluation.seeds.looks[-1] == maximum
    assert evaluation.equivalence_margin == 0.01


def test_margin_defaults_to_none_and_means_no_equivalence_band() -> None:
    evaluation = parse({"seeds": ROUNDS}).evaluation
    assert evaluation.margin is None and evaluation.equivalence_margin == 0.0
    assert parse({"seeds": ROUNDS, "margin": 0}).evaluation.equivalence_margin == 0.0


def test_a_list_of_seeds_is_unchanged() -> None:
    evaluation = parse({"seeds": [3, 0, 7]}).evaluation
    assert not evaluation.sequential
    assert evaluation.seeds == (3, 0, 7) and evaluation.seed_list == (3, 0, 7)
    assert evaluation.margin is None and evaluation.equivalence_margin == 0.0


def test_a_sequential_spec_round_trips_through_its_json_dump() -> None:
    # spec.json holds the resolved spec; the report and a resumed study read it back.
    spec = parse({"seeds": ROUNDS, "margin": 0.01})
    dumped = spec.model_dump(mode="json")
    assert dumped["evaluation"] == {"seeds": ROUNDS, "margin": 0.01}
    assert StudySpec.model_validate(dumped) == spec
