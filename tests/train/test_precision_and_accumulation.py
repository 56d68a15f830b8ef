"""training.precision, clip_grad_norm and accumulate in whole trials, for every registry name."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from pipeline.optim import list_optimizers, passes_per_step
from pipeline.train import TrialCallbacks, TrialConfig, run_trial
from tests.train.test_runner import small as runner_small

NAMES = list_optimizers()


def small(**overrides) -> TrialConfig:
    """test_runner's small trial, on an MLP without BatchNorm (unless overridden) and batches of 128."""
    return runner_small(**{"model": {"name": "mlp", "hidden": (32, 32), "batchnorm": False}, "batch_size": 128,
                           **overrides})  # fmt: skip


class Keep(TrialCallbacks):
    def on_start(self, model: nn.Module) -> None:
        self.model = model


def losses(result) -> list[float]:
    return [v for r in result.history for v in (r.train_loss, r.val_loss)]


@pytest.mark.parametrize("name", NAMES)
def test_accumulated_micro_batches_follow_the_whole_batchs_trajectory(name):
    whole = run_trial(small(optimizer=name))
    parts = run_trial(small(optimizer=name, accumulate=4))
    assert whole.status == parts.status == "ok"
    assert losses(parts) == pytest.approx(losses(whole), rel=1e-4, abs=1e-6)
    assert parts.test_accuracy == pytest.approx(whole.test_accuracy, abs=2e-3)


@pytest.mark.parametrize("name", ["sam", "mpsam", "lets-sam"])
def test_batchnorm_statistics_move_once_per_micro_batch_of_the_first_pass(name):
    keep = Keep()
    config = small(optimizer=name, model={"name": "mlp", "hidden": (32, 32), "batchnorm": True}, accumulate=4)
    result = run_trial(config, keep)
    layers = [m for m in keep.model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert layers
    steps = result.steps_per_epoch * result.epochs_run
    assert all(int(m.num_batches_tracked) == 4 * steps for m in layers)


@pytest.mark.parametrize("name", NAMES)
def test_fp16_on_the_cpu_reaches_the_fp32_result(name):
    fp32 = run_trial(small(optimizer=name))
    fp16 = run_trial(small(optimizer=name, precision="fp16"))
    assert fp16.status == "ok" and fp16.skipped_steps == 0
    assert fp16.val_loss == pytest.approx(fp32.val_loss, rel=0.02)
    assert fp16.config["precision"] == "fp16"


@pytest.mark.parametrize("name", ["sgd", "sam", "lets-fsam"])
def test_clipping_a_learning_rate_that_diverges_keeps_the_trial_finite(name):
    wild = small(optimizer=name, lr=1000.0, epochs=3)
    assert run_trial(wild).status == "diverged"
    clipped = run_trial(wild.model_copy(update={"clip_grad_norm": 0.01}))
    assert clipped.status == "ok" and math.isfinite(clipped.val_loss)


def test_the_new_settings_stay_out_of_an_unchanged_config():
    """A trial that does not use them dumps as before they existed: its identity and checkpoints are unchanged."""
    dumped = small().model_dump(mode="json")
    assert not {"precision", "clip_grad_norm", "accumulate"} & dumped.keys()
    set_ = small(precision="fp16", clip_grad_norm=1.0, accumulate=2).model_dump(mode="json")
    assert (set_["precision"], set_["clip_grad_norm"], set_["accumulate"]) == ("fp16", 1.0, 2)


@pytest.mark.parametrize(
    "field, value",
    [("accumulate", 0), ("accumulate", 100), ("clip_grad_norm", -1.0), ("clip_grad_norm", 0.0), ("precision", "fp8")],
)
def test_bad_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        small(**{field: value})


def test_a_resumed_fp16_trial_keeps_its_scaler(tmp_path):
    """The GradScaler's state is in the checkpoint: a trial resumed after its first epoch ends as one run through."""
    config = small(optimizer="sam", precision="fp16", checkpoint_dir=str(tmp_path / "ckpt"))
    through = run_trial(config.model_copy(update={"checkpoint_dir": str(tmp_path / "other")}))

    class StopAfterFirstEpoch(TrialCallbacks):
        def on_epoch(self, record) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trial(config, StopAfterFirstEpoch())
    resumed = run_trial(config)
    assert resumed.resumed_at_epoch == 1
    assert losses(resumed) == losses(through)
    assert torch.tensor(losses(resumed)).isfinite().all()


@pytest.mark.parametrize("name", NAMES)
def test_passes_per_step_are_the_declared_ones_under_accumulation(name):
    """Each pass is one closure call, which runs every micro-batch: training-mode forwards with gradients come to
    ``accumulate`` times the declared passes per step (LETS: less its first step's validation pass)."""

    class Count(TrialCallbacks):
        forwards = 0

        def on_start(self, model: nn.Module) -> None:
            def hook(module, inputs, output) -> None:
                if module.training and torch.is_grad_enabled():
                    Count.forwards += 1

            model.register_forward_hook(hook)

    config = small(optimizer=name, accumulate=4, epochs=1)
    result = run_trial(config, Count())
    steps = result.steps_per_epoch
    first_step_short = 1 if name.startswith("lets-") else 0
    assert Count.forwards == 4 * (round(steps * passes_per_step(name)) - first_step_short)
