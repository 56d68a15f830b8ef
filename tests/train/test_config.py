"""TrialConfig checks the optimizer's hyperparameters at the door, as the registry says."""

from __future__ import annotations

import pytest

from pipeline.train import TrialConfig


@pytest.mark.parametrize(
    "optimizer, hparams, message",
    [
        ("xsam", {"search_every": 5}, r"hparams\.search_every is set by the trainer to the steps per epoch"),
        ("lets-xsam", {"search_every": 5}, r"hparams\.search_every is set by the trainer"),
        ("mpsam", {"generator": 1}, r"hparams\.generator is set by the trainer"),
        ("lets-xsam", {"hessian": "finite_difference"}, r"hessian='finite_difference' does not apply to XSAM"),
        ("sam", {"n_perturbations": 3}, r"'sam' does not take n_perturbations; it takes: rho"),
    ],
)
def test_hyperparameters_are_checked_at_the_door(optimizer, hparams, message):
    with pytest.raises(ValueError, match=message):
        TrialConfig(optimizer=optimizer, hparams=hparams)


def test_finite_difference_is_accepted_where_it_applies():
    assert TrialConfig(optimizer="lets-mpsam", hparams={"hessian": "finite_difference"}).hparams["hessian"]
