"""A trial killed mid-epoch resumes from its last checkpoint and ends exactly as an uninterrupted run."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from pipeline.train import TrialConfig, run_trial
from pipeline.train.checkpoint import checkpoint_path, save_checkpoint

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from pipeline.train import TrialCallbacks, TrialConfig, run_trial

    torch.set_num_threads(int(sys.argv[2]))  # bitwise equality needs the parent's reduction order

    class KillMidEpoch(TrialCallbacks):
        def on_batch(self, epoch, step, indices):
            if epoch == 2 and step == 3:
                os.kill(os.getpid(), signal.SIGKILL)

    run_trial(TrialConfig.model_validate_json(sys.argv[1]), KillMidEpoch())
    """
)


def _metrics(result):
    history = [dataclasses.replace(r, seconds=0.0) for r in result.history]
    return (
        result.status,
        result.test_accuracy,
        result.test_loss,
        result.final_test_accuracy,
        result.best_epoch,
        history,
        result.rho_trajectory,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "optimizer, hparams",
    [("lets-mpsam", {"n_perturbations": 3}), ("fsam", {}), ("xsam", {})],
)
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, optimizer, hparams):
    settings = dict(
        data={"name": "mnist1d"},
        model={"name": "mlp", "hidden": (32, 32), "dropout": 0.2, "batchnorm": True},
        optimizer=optimizer,
        hparams=hparams,
        schedule="cosine",
        lr=0.05,
        batch_size=256,
        epochs=5,
        seed=7,
        device="cpu",
    )
    uninterrupted = run_trial(TrialConfig.model_validate(settings))
    cfg = TrialConfig.model_validate({**settings, "checkpoint_dir": str(tmp_path)})
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, cfg.model_dump_json(), str(torch.get_num_threads())],
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    payload = torch.load(checkpoint_path(tmp_path), weights_only=True)
    assert payload["loop"]["epoch"] == 2  # two epochs were done; the third was cut short
    resumed = run_trial(cfg)
    assert _metrics(resumed) == _metrics(uninterrupted)
    assert resumed.resumed_at_epoch == 2 and uninterrupted.resumed_at_epoch is None


def test_a_checkpoint_of_another_trial_or_not_ours_is_refused(tmp_path):
    cfg = TrialConfig.model_validate(
        {"data": {"name": "synthetic"}, "epochs": 1, "checkpoint_dir": str(tmp_path), "device": "cpu"}
    )
    run_trial(cfg)
    other = cfg.model_copy(update={"seed": 5})
    with pytest.raises(ValueError, match="different trial configuration"):
        run_trial(other)
    save_checkpoint(tmp_path, {"something": torch.zeros(1)})
    checkpoint_path(tmp_path).write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable sam-study checkpoint"):
        run_trial(cfg)
