"""Suite files, validated at the door like study files: each task becomes a whole study, and an error names the
task and its field (``tasks[NAME].field``), by ``parse_suite`` and by `sam-study run` (exit 2, nothing created)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.cli import main
from pipeline.spec.study import StudySpecError
from pipeline.spec.suite import is_suite, load_suite, parse_suite

SUITE: dict[str, Any] = {
    "name": "suite",
    "methods": [{"name": "sgd"}, {"name": "sam", "hparams": {"rho": 0.05}}, {"name": "fsam", "hparams": {"rho": 0.05}}],
    "reference": "sam",
    "training": {"epochs": 2, "batch_size": 64, "lr": 0.05},
    "tuning": {"trials": 3, "startup_trials": 2},
    "evaluation": {"seeds": {"start": 2, "step": 1, "max": 3}, "margin": 0.01},
    "tasks": [
        {"name": "digits", "data": {"name": "digits"}, "model": {"name": "mlp", "hidden": [16]}},
        {
            "name": "synthetic",
            "data": {"name": "synthetic"},
            "model": {"preset": "mpsam_mlp"},
            "training": {"epochs": 3},
            "tuning": {"trials": 4},
            "methods": [{"name": "lets-sam", "hparams": {"rho": 0.05}}],
        },
    ],
    "claims": [
        {"name": "F-SAM beats SAM", "method": "fsam", "against": "sam"},
        {"name": "LETS", "method": "lets-sam", "against": "sam", "kind": "not_worse"},
    ],
}


def changed(change) -> dict[str, Any]:
    raw = copy.deepcopy(SUITE)
    change(raw)
    return raw


def test_each_task_is_a_whole_study_with_the_shared_fields_and_its_own_laid_over_them() -> None:
    suite = parse_suite(SUITE, "suite.yaml")
    digits, synthetic = suite.tasks
    assert suite.task_names == ("digits", "synthetic")
    assert (digits.training.epochs, digits.training.batch_size) == (2, 64)
    assert (synthetic.training.epochs, synthetic.training.batch_size, synthetic.training.lr) == (3, 64, 0.05)
    assert (digits.tuning.trials, synthetic.tuning.trials, synthetic.tuning.startup_trials) == (3, 4, 2)
    assert [m.name for m in digits.methods] == ["sgd", "sam", "fsam"]
    assert [m.name for m in synthetic.methods] == ["sgd", "sam", "fsam", "lets-sam"]
    assert suite.methods == ("sgd", "sam", "fsam", "lets-sam")
    assert digits.evaluation == synthetic.evaluation and digits.reference == "sam"
    # A claim without tasks is judged on every task that runs both of its methods.
    assert suite.claim_tasks(suite.claims[0]) == ("digits", "synthetic")
    assert suite.claim_tasks(suite.claims[1]) == ("synthetic",)
    assert is_suite(SUITE) and not is_suite({"name": "s", "data": {}})


BAD = [
    pytest.param(
        lambda r: r["tasks"][1]["training"].update(epochs=0),
        "tasks[synthetic].training.epochs: Input should be greater than or equal to 1",
        id="task-field",
    ),
    pytest.param(
        lambda r: r["tasks"][0]["data"].update(name="mnist2d"),
        "tasks[digits].data.name: unknown dataset 'mnist2d'",
        id="task-data",
    ),
    pytest.param(
        lambda r: r["tasks"][0].update(modle={}),
        "tasks[digits].modle: unknown key; did you mean 'model'?",
        id="task-unknown-key",
    ),
    pytest.param(lambda r: r["tasks"][0].pop("model"), "tasks[digits].model: Field required", id="task-no-model"),
    pytest.param(
        lambda r: r["tasks"][1]["methods"][0]["hparams"].update(rho=-1),
        "tasks[synthetic].methods[lets-sam].hparams: rho must be > 0",
        id="task-method",
    ),
    pytest.param(
        lambda r: r["evaluation"]["seeds"].update(start=1),
        "evaluation.seeds.start (in task digits): Input should be greater than or equal to 2",
        id="shared-field",
    ),
    pytest.param(lambda r: r.update(data={"name": "digits"}), "data: a suite sets data per task", id="shared-data"),
    pytest.param(lambda r: r["tasks"][1].update(name="digits"), "tasks: names must be unique", id="repeated-task"),
    pytest.param(lambda r: r.update(tasks=[]), "tasks: Tuple should have at least 1 item", id="no-tasks"),
    pytest.param(
        lambda r: r["claims"][0].update(method="fsamm"),
        "claims[F-SAM beats SAM].method: no method 'fsamm' (sgd, sam, fsam, lets-sam); did you mean 'fsam'?",
        id="claim-method",
    ),
    pytest.param(
        lambda r: r["claims"][0].update(tasks=["digit"]),
        "claims[F-SAM beats SAM].tasks: no task 'digit' (digits, synthetic); did you mean 'digits'?",
        id="claim-task",
    ),
    pytest.param(
        lambda r: r["claims"][1].update(tasks=["digits"]),
        "claims[LETS].method: task(s) digits do not run 'lets-sam'",
        id="claim-task-without-method",
    ),
    pytest.param(
        lambda r: r["claims"][0].update(against="fsam"),
        "method and against are both 'fsam'",
        id="claim-same-methods",
    ),
    pytest.param(
        lambda r: r.update(aggregate={"normalisation": "baseline_to_best", "baseline": "adam"}),
        "aggregate.baseline: 'adam' is not a method of task(s) digits, synthetic",
        id="aggregate-baseline",
    ),
    pytest.param(
        lambda r: r.update(published=[{"source": "p", "task": "digits", "seeds": 5, "values": {"lets-sam": [1, 0]}}]),
        "published[0].values.lets-sam: task digits does not run 'lets-sam'",
        id="published-method",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_a_bad_suite_is_refused_naming_the_task_and_the_field(change, message: str) -> None:
    with pytest.raises(StudySpecError) as error:
        parse_suite(changed(change), "suite.yaml")
    assert str(error.value).startswith("suite.yaml: ")
    assert message in str(error.value)


def test_sam_study_run_refuses_a_bad_suite_with_exit_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(changed(lambda r: r["tasks"][1]["training"].update(epochs=0))))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    assert "tasks[synthetic].training.epochs" in capsys.readouterr().err
    assert not out.exists()


def test_the_shipped_suites_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "studies"
    for name in ("cpu_suite.yaml", "gpu_suite.yaml"):
        suite = load_suite(root / name)
        assert len(suite.tasks) >= 2 and suite.claims


def test_a_command_that_takes_one_study_refuses_a_suite_file_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    assert main(["nightly", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "a suite file (it has tasks:), not a single study" in capsys.readouterr().err


MODEL_CHECKS = [
    pytest.param(
        lambda d: d["tasks"][1].update(name="digits"), "tasks: names must be unique; repeated: digits", id="repeated"
    ),
    pytest.param(
        lambda d: d["claims"][0].update(method="fsamm"),
        "claims[F-SAM beats SAM].method: no method 'fsamm' (sgd, sam, fsam, lets-sam); did you mean 'fsam'?",
        id="claim-method",
    ),
    pytest.param(
        lambda d: d.update(aggregate={"normalisation": "baseline_to_best", "baseline": "adam"}),
        "aggregate.baseline: 'adam' is not a method of task(s) digits, synthetic",
        id="aggregate-baseline",
    ),
    pytest.param(
        lambda d: d.update(published=[{"source": "p", "task": "digits", "seeds": 5, "values": {"lets-sam": [1, 0]}}]),
        "published[0].values.lets-sam: task digits does not run 'lets-sam'",
        id="published-method",
    ),
    pytest.param(lambda d: d.update(extra=1), "extra: unknown key", id="extra-key"),
]


@pytest.mark.parametrize(("change", "message"), MODEL_CHECKS)
def test_the_model_itself_checks_across_fields_so_every_reader_gets_the_checks(change, message: str) -> None:
    """``SuiteSpec.model_validate`` (how ``suite.json`` is read back) refuses what ``parse_suite`` refuses."""
    from pydantic import ValidationError

    from pipeline.spec.errors import format_validation_error
    from pipeline.spec.suite import SuiteSpec

    dump = parse_suite(SUITE, "suite.yaml").model_dump(mode="json")
    SuiteSpec.model_validate(dump)  # the dump of a valid suite is valid
    bad = copy.deepcopy(dump)
    change(bad)
    with pytest.raises(ValidationError) as error:
        SuiteSpec.model_validate(bad)
    assert message in format_validation_error(error.value, bad, SuiteSpec)


def test_a_suite_json_that_fails_the_checks_is_refused_by_the_report_naming_the_field(tmp_path: Path) -> None:
    import json

    from pipeline.report.suite import read_suite
    from pipeline.results.study_results import StudyFolderError
    from pipeline.spec.suite import SUITE_FILE

    dump = parse_suite(SUITE, "suite.yaml").model_dump(mode="json")
    (tmp_path / SUITE_FILE).write_text(json.dumps(dump))
    assert read_suite(tmp_path).task_names == ("digits", "synthetic")
    dump["claims"][0]["method"] = "fsamm"
    (tmp_path / SUITE_FILE).write_text(json.dumps(dump))
    with pytest.raises(StudyFolderError) as error:
        read_suite(tmp_path)
    assert "cannot be read as a suite (claims[F-SAM beats SAM].method: no method 'fsamm'" in str(error.value)
