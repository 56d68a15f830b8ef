"""`sam-study train`'s bad input: exit 2, a short message that names the flag (not a config path or a pydantic
dump), the nearest valid name for a misspelt one, and flag names in --help. Run in-process: no trial starts."""

from __future__ import annotations

import pytest

from pipeline.cli import main

SHORT = 10  # lines of stderr; the generated usage alone was 60


def train(capsys, *flags: str) -> tuple[int, str]:
    """The exit code and stderr of `sam-study train` on a tiny trial with ``flags``, whether argparse or the
    command itself refused them."""
    try:
        code = main(["train", "--dataset", "synthetic", "--epochs", "1", "--device", "cpu", "--quiet", *flags])
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def assert_short_and_plain(err: str) -> None:
    assert 0 < len(err.splitlines()) < SHORT, err
    assert "CFG." not in err and "cfg." not in err, err  # internal destinations
    assert "validation error" not in err and "errors.pydantic.dev" not in err, err  # pydantic's dump


@pytest.mark.parametrize(
    "flags, flag",
    [
        pytest.param(["--optimizer", "sam", "--rho", "-1"], "--rho", id="rho-negative"),
        pytest.param(["--rho", "0.1"], "--rho", id="rho-for-sgd"),
        pytest.param(["--optimizer", "fsam", "--sigma", "2"], "--sigma", id="sigma-above-one"),
        pytest.param(["--optimizer", "lets-sam", "--rho-min", "0.5", "--rho-max", "0.1"], "--rho-min", id="lets-clip"),
        pytest.param(["--lr", "-1"], "--lr", id="lr-negative"),
        pytest.param(["--label-noise", "1.5"], "--label-noise", id="data-field"),
        pytest.param(["--synthetic-n-classes", "1"], "--synthetic-n-classes", id="synthetic-field"),
        pytest.param(["--dataset", "cifar10"], "--data-root", id="data-model-check"),
        pytest.param(["--patience", "x"], "--patience", id="argparse-type"),
    ],
)
def test_a_bad_value_exits_2_naming_its_flag(capsys, flags, flag):
    code, err = train(capsys, *flags)
    assert code == 2
    assert flag in err, err
    assert_short_and_plain(err)


@pytest.mark.parametrize(
    "flags, nearest",
    [
        pytest.param(["--optimizer", "samm"], "sam", id="optimizer"),
        pytest.param(["--dataset", "mnist"], "mnist1d", id="dataset"),
        pytest.param(["--model", "mpl"], "mlp", id="model"),
        pytest.param(["--schedule", "cosin"], "cosine", id="choice"),
        pytest.param(["--optimizer", "lets-sam", "--hessian", "diagonl"], "diagonal", id="hyperparameter-value"),
        pytest.param(["--rhoo", "0.1"], "--rho", id="flag"),
    ],
)
def test_a_misspelt_name_exits_2_offering_the_nearest_valid_one(capsys, flags, nearest):
    code, err = train(capsys, *flags)
    assert code == 2
    assert f"did you mean '{nearest}'" in err, err
    assert_short_and_plain(err)


def test_an_argparse_error_shows_a_short_usage_pointing_to_help(capsys):
    code, err = train(capsys, "--optimizer", "samm")
    assert code == 2
    assert err.startswith("usage: sam-study train") and "--help" in err, err
    assert "--optimizer" in err, err
    assert_short_and_plain(err)


def test_help_shows_flag_names_not_config_paths(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "CFG." not in out
    for flag in ("--rho", "--synthetic-n-samples", "--lr", "--dataset {synthetic,"):  # the last: its valid names
        assert flag in out, flag


def test_a_misspelt_command_offers_the_nearest(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["trian"])
    assert stop.value.code == 2
    assert "did you mean 'train'" in capsys.readouterr().err
