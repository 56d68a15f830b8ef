"""A user's data and model factories, checked at the door: each bad reference exits 2 naming the file and the field
(``data.factory``, ``model.args.width``) with the cause, before anything is created.

Each case writes its own module, under a name of its own (a module once imported stays in ``sys.modules``), into a
temporary folder beside its study file, outside the project."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from pipeline.cli import main

GOOD = """
import math
import numpy as np
import torch
from torch import nn
from pipeline.data import DatasetSplits, Split

def _split(rng, n, classes=3, dim=4):
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return Split(torch.from_numpy(x), torch.from_numpy(rng.integers(0, classes, size=n).astype(np.int64)))

def make_data(seed, n=40):
    rng = np.random.default_rng(seed)
    return DatasetSplits(train=_split(rng, n), val=_split(rng, 10), test=_split(rng, 10), num_classes=3)

def make_net(input_shape, num_classes, width=8):
    layers = [nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)
"""

STUDY = """\
name: door
data: {{factory: "{data}", args: {data_args}}}
model: {{factory: "{model}", args: {model_args}}}
training: {{lr: 0.05, epochs: 1, batch_size: 8}}
methods: [{{name: sgd}}, {{name: sam, hparams: {{rho: 0.05}}}}]
reference: sam
evaluation: {{seeds: [0, 1]}}
{extra}"""

CASES = {
    # id: (module source appended to GOOD, study fields, the field named, what the message says)
    "no-module": ("", {"data": "nowhere:make_data"}, "data.factory", "no module named 'nowhere'"),
    "import-error": ("raise RuntimeError('broken on import')", {}, "data.factory", "broken on import"),
    "no-attribute": ("", {"model": "{mod}:make_nett"}, "model.factory", "did you mean 'make_net'?"),
    "not-an-import-string": ("", {"data": "make_data"}, "data.factory", "module:attr"),
    "bad-arg": ("", {"model_args": "{widht: 4}"}, "model.args.widht", "did you mean 'width'?"),
    "fixed-arg": ("", {"data_args": "{seed: 3}"}, "data.args.seed", "passes seed itself"),
    "wrong-type": ("def make_data(seed):\n    return [1, 2]", {}, "data.factory", "returned a list"),
    "empty-split": (
        "_make = make_data\ndef make_data(seed):\n    d = _make(seed)\n"
        "    return DatasetSplits(train=d.train, val=Split(d.val.x[:0], d.val.y[:0]), test=d.test, num_classes=3)",
        {},
        "data.factory",
        "the val split is empty",
    ),
    "mismatched-lengths": (
        "_make = make_data\ndef make_data(seed):\n    d = _make(seed)\n"
        "    return DatasetSplits(train=Split(d.train.x, d.train.y[:-1]), val=d.val, test=d.test, num_classes=3)",
        {},
        "data.factory",
        "Split needs x of shape (n, ...) and y of shape (n,)",
    ),
    "labels-out-of-range": (
        "_make = make_data\ndef make_data(seed):\n    d = _make(seed)\n"
        "    return DatasetSplits(train=d.train, val=d.val, test=d.test, num_classes=2)",
        {},
        "data.factory",
        "outside 0..1 (num_classes=2)",
    ),
    "not-deterministic": (
        "_make = make_data\ndef make_data(seed):\n    return _make(int(np.random.randint(1000)))",
        {},
        "data.factory",
        "different train data in two calls with seed=0",
    ),
    "wrong-output-shape": (
        "def make_net(input_shape, num_classes, width=8):\n    return nn.Linear(math.prod(input_shape), 5)",
        {},
        "model.factory",
        "logits must be (4, 3)",
    ),
    "not-finite": (
        "class Nan(nn.Module):\n    def forward(self, x):\n        return torch.full((x.shape[0], 3), float('nan'))\n"
        "def make_net(input_shape, num_classes, width=8):\n    return Nan()",
        {},
        "model.factory",
        "not finite",
    ),
    "model-raises": (
        "def make_net(input_shape, num_classes, width=8):\n    raise ValueError('no such layer')",
        {},
        "model.factory",
        "no such layer",
    ),
    "no-code-folder": ("", {"extra": "code: [missing]\n"}, "code[0]", "is not a folder"),
    "rule-not-sam-family": (
        "class NotSam:\n    passes_per_step = 2",
        {"extra": 'optimizers: [{name: mine, rule: "{mod}:NotSam"}]\n'},
        "optimizers[mine].rule",
        "NotSam is not a subclass of pipeline.optim.SAMFamilyOptimizer",
    ),
    "rule-without-passes": (
        "from pipeline.optim.sam import SAM\nclass Mine(SAM):\n    pass",
        {"extra": 'optimizers: [{name: mine, rule: "{mod}:Mine"}]\n'},
        "optimizers[mine].rule",
        "Mine declares no passes_per_step",
    ),
    "rule-missing": (
        "",
        {"extra": 'optimizers: [{name: mine, rule: "{mod}:make_nett"}]\n'},
        "optimizers[mine].rule",
        "did you mean 'make_net'?",
    ),
    "rule-shipped-name": (
        "from pipeline.optim.sam import SAM\nclass Mine(SAM):\n    passes_per_step = 2",
        {"extra": 'optimizers: [{name: sam, rule: "{mod}:Mine"}]\n'},
        "optimizers[sam].rule",
        "a shipped optimizer's name",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_user_reference_exits_2_naming_the_field_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    source, fields, field, message = CASES[case]
    module = f"door_{case.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(GOOD) + "\n" + source + "\n")
    values = {
        "data": "{mod}:make_data",
        "model": "{mod}:make_net",
        "data_args": "{}",
        "model_args": "{}",
        "extra": "",
        **fields,
    }
    study = tmp_path / "door.yaml"
    study.write_text(STUDY.format(**{k: v.replace("{mod}", module) for k, v in values.items()}))
    out = tmp_path / "out"

    assert main(["run", str(study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {study}: {field}"), err
    assert message in err, err
    assert "Traceback" not in err
    assert not out.exists(), "no study folder, MLflow store or Ray run may be created"


def test_the_good_module_passes_the_door(tmp_path: Path) -> None:
    """The module every case above breaks passes as written: each failure is the case's own."""
    from pipeline.spec.study import load_study
    from pipeline.study.preparation import prepare

    (tmp_path / "door_good.py").write_text(textwrap.dedent(GOOD))
    study = tmp_path / "door.yaml"
    study.write_text(
        STUDY.format(data="door_good:make_data", model="door_good:make_net", data_args="{}", model_args="{}", extra="")
    )
    spec, where = prepare(load_study(study), study, tmp_path / "out", None, None, None)
    assert where.code == (tmp_path.resolve(),)
    assert spec.data.factory == "door_good:make_data" and spec.model.args == {}


def test_a_resume_after_the_users_code_changed_is_refused_naming_the_file_unless_code_changed(tmp_path: Path) -> None:
    from pipeline.spec.study import StudySpecError, load_study
    from pipeline.study.preparation import prepare

    module = tmp_path / "door_changed.py"
    module.write_text(textwrap.dedent(GOOD))
    study = tmp_path / "door.yaml"
    study.write_text(
        STUDY.format(
            data="door_changed:make_data", model="door_changed:make_net", data_args="{}", model_args="{}", extra=""
        )
    )
    spec = load_study(study)
    prepare(spec, study, tmp_path / "out", None, None, None)
    prepare(spec, study, tmp_path / "out", None, None, None)  # unchanged: resumes

    module.write_text(module.read_text() + "\n# an edit\n")
    refused = re.escape(f"{module} changed since the study started") + ".*--code-changed"
    with pytest.raises(StudySpecError, match=refused):
        prepare(spec, study, tmp_path / "out", None, None, None)
    (tmp_path / "door_helper.py").write_text("X = 1\n")
    prepare(spec, study, tmp_path / "out", None, None, None, code_changed=True)  # the user says so: resumes
    module.write_text(textwrap.dedent(GOOD))
    (tmp_path / "door_helper.py").unlink()
    with pytest.raises(StudySpecError, match=r"door_changed\.py changed .*\(and 1 more file\(s\)\)"):
        prepare(spec, study, tmp_path / "out", None, None, None)


def test_one_step_of_every_method_at_both_ends_of_its_range_runs_at_the_door(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule that fails only at the top of its search range, on the study's own data, is named before Ray starts."""
    (tmp_path / "door_step.py").write_text(
        textwrap.dedent(GOOD)
        + "\nfrom pipeline.optim.sam import SAM\n"
        + "class Fragile(SAM):\n    passes_per_step = 2\n"
        + "    def _compute_update(self, closure, loss, params, rho):\n"
        + "        if rho > 0.3:\n            raise FloatingPointError('radius too large for this rule')\n"
        + "        return super()._compute_update(closure, loss, params, rho)\n"
    )
    study = tmp_path / "door.yaml"
    text = STUDY.format(
        data="door_step:make_data", model="door_step:make_net", data_args="{}", model_args="{}", extra=""
    )
    text = text.replace(
        "{name: sam, hparams: {rho: 0.05}}",
        "{name: sam, hparams: {rho: 0.05}}, {name: fragile, search: {rho: {low: 0.01, high: 0.5}}}",
    )
    study.write_text(text + 'optimizers: [{name: fragile, rule: "door_step:Fragile"}]\n')
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {study}: methods[fragile].search.rho: one step on the study's own data raised" in err, err
    assert "radius too large" in err and not out.exists()
