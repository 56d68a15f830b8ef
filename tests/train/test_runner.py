"""run_trial: determinism, pairing by seed, no test-split leakage, BatchNorm, divergence, early stopping."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import pipeline.train.runner as runner
from pipeline.data import Split
from pipeline.optim import list_optimizers
from pipeline.train import TrialCallbacks, TrialConfig, run_trial
from pipeline.train.runner import _Trial


def small(**overrides) -> TrialConfig:
    base = dict(
        data={"name": "mnist1d"},
        model={"name": "mlp", "hidden": (32, 32)},
        optimizer="sgd",
        lr=0.05,
        batch_size=256,
        epochs=2,
        seed=0,
        device="cpu",
    )
    base.update(overrides)
    return TrialConfig.model_validate(base)


def _metrics(result):
    """Everything in a result that must repeat exactly, times aside."""
    history = [dataclasses.replace(r, seconds=0.0) for r in result.history]
    return (
        result.status,
        result.test_accuracy,
        result.test_loss,
        result.val_loss,
        result.train_loss,
        result.final_test_accuracy,
        history,
        result.rho_trajectory,
    )


def test_same_seed_gives_bitwise_identical_results_and_different_seeds_differ():
    cfg = small(optimizer="sam", hparams={"rho": 0.05})
    first, second = run_trial(cfg), run_trial(cfg)
    assert _metrics(first) == _metrics(second)
    other = run_trial(cfg.model_copy(update={"seed": 1}))
    assert other.history[0].train_loss != first.history[0].train_loss


class _Recorder(TrialCallbacks):
    def __init__(self):
        self.initial: list[torch.Tensor] = []
        self.batches: list[torch.Tensor] = []
        self.model = None
        self.epochs = []

    def on_start(self, model):
        self.model = model
        self.initial = [t.detach().clone() for t in model.state_dict().values()]

    def on_batch(self, epoch, step, indices):
        self.batches.append(indices.clone())

    def on_epoch(self, record):
        self.epochs.append(record)


def test_methods_with_the_same_seed_start_from_identical_weights_and_see_identical_batches():
    recorders = {}
    for name, hparams in [("sgd", {}), ("mpsam", {"n_perturbations": 2}), ("lets-sam", {})]:
        recorders[name] = _Recorder()
        run_trial(small(optimizer=name, hparams=hparams, seed=3), recorders[name])
    sgd = recorders.pop("sgd")
    assert len(sgd.batches) == 2 * 13  # 3200 examples in batches of 256: 12 full + one of 128
    for other in recorders.values():
        assert all(torch.equal(a, b) for a, b in zip(sgd.initial, other.initial, strict=False))
        assert len(other.batches) == len(sgd.batches)
        assert all(torch.equal(a, b) for a, b in zip(sgd.batches, other.batches, strict=False))


def test_the_test_split_is_never_read_before_the_final_evaluation(monkeypatch):
    """Poisoning the test labels changes the test metrics and nothing else."""
    real_build = runner.build_dataset

    def poisoned(cfg, seed):
        splits = real_build(cfg, seed)
        bad = Split(splits.test.x, (splits.test.y + 1) % splits.num_classes)
        return dataclasses.replace(splits, test=bad)

    cfg = small(optimizer="lets-sam", patience=1, epochs=3)
    clean = run_trial(cfg)
    monkeypatch.setattr(runner, "build_dataset", poisoned)
    dirty = run_trial(cfg)
    assert _metrics(clean)[3:5] == _metrics(dirty)[3:5]  # val and train loss
    assert _metrics(clean)[6:] == _metrics(dirty)[6:]  # history and rho trajectory
    assert clean.best_epoch == dirty.best_epoch and clean.epochs_run == dirty.epochs_run
    assert clean.test_accuracy != dirty.test_accuracy


@pytest.mark.parametrize("name", list_optimizers())
def test_batchnorm_running_stats_move_once_per_step_under_every_optimizer(name):
    recorder = _Recorder()
    result = run_trial(
        small(optimizer=name, epochs=1, model={"name": "mlp", "hidden": (16,), "batchnorm": True}), recorder
    )
    bns = [m for m in recorder.model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert bns and result.status == "ok"
    for bn in bns:
        assert int(bn.num_batches_tracked) == result.steps_per_epoch == 13


def test_a_diverging_run_is_marked_and_never_raises():
    result = run_trial(small(lr=1e6, momentum=0.0, epochs=5))
    assert result.status == "diverged"
    assert result.epochs_run < 5


def test_divergence_after_a_finite_epoch_keeps_the_last_finite_metrics(monkeypatch):
    calls = {"n": 0}
    real = runner._Trial._train_epoch

    def diverge_in_second_epoch(self, epoch):
        loss = real(self, epoch)
        return float("nan") if epoch == 1 else loss

    monkeypatch.setattr(runner._Trial, "_train_epoch", diverge_in_second_epoch)
    result = run_trial(small(epochs=4))
    assert result.status == "diverged" and result.epochs_run == 1
    assert 0.0 < result.test_accuracy <= 1.0 and result.best_epoch == 0
    del calls


def test_early_stopping_restores_the_best_validation_state():
    stopped = run_trial(small(epochs=30, patience=2, lr=0.5))
    assert stopped.epochs_run < 30
    assert stopped.epochs_run == stopped.best_epoch + 1 + 2
    # The best checkpoint is the model after best_epoch + 1 epochs: a run that stops there agrees.
    short = run_trial(small(epochs=stopped.best_epoch + 1, lr=0.5))
    assert stopped.test_accuracy == short.final_test_accuracy


def test_lets_records_its_radius_and_xsam_searches_once_per_epoch():
    lets = run_trial(small(optimizer="lets-sam", epochs=3))
    assert len(lets.rho_trajectory) == 4 and lets.rho_trajectory[0] == pytest.approx(0.05)
    assert [r.rho for r in lets.history] == lets.rho_trajectory[1:]
    trial = _Trial(small(optimizer="xsam"), torch.device("cpu"), TrialCallbacks())
    assert trial.optimizer.search_every == trial.steps_per_epoch == 13


class _Outcomes(TrialCallbacks):
    def __init__(self) -> None:
        self.seen: list[dict] = []

    def on_outcomes(self, outcomes) -> None:
        self.seen.append(outcomes)


def test_shifted_test_set_is_reported_beside_the_clean_one_with_every_examples_prediction():
    kept = _Outcomes()
    result = run_trial(small(data={"name": "synthetic", "shift_noise_std": 1.0}, epochs=2), kept)
    assert result.shifted_test_accuracy is not None
    assert result.shifted_test_accuracy != result.test_accuracy
    [outcomes] = kept.seen
    assert sorted(outcomes) == ["shifted_test", "test"]
    for name, accuracy in (("test", result.test_accuracy), ("shifted_test", result.shifted_test_accuracy)):
        predicted, labels = outcomes[name]
        assert predicted.dtype == torch.long and predicted.shape == labels.shape
        assert (predicted == labels).double().mean().item() == accuracy  # the selected model's, exactly
    again = _Outcomes()
    run_trial(small(data={"name": "synthetic", "shift_noise_std": 1.0}, epochs=2), again)
    assert torch.equal(again.seen[0]["test"][0], outcomes["test"][0]), "the same seed predicts the same"


def test_a_run_with_no_finished_epoch_has_no_outcomes():
    kept = _Outcomes()
    result = run_trial(small(optimizer="sgd", lr=1e30), kept)
    assert result.status == "diverged" and kept.seen == []


@pytest.mark.slow
def test_torch_compile_path_trains_like_eager():
    """--compile, with a SAM variant toggling BatchNorm between passes (recompiles, not errors)."""
    settings = dict(optimizer="sam", model={"name": "mlp", "hidden": (32, 32), "batchnorm": True})
    eager, compiled = run_trial(small(**settings)), run_trial(small(**settings, compile=True))
    assert compiled.status == "ok"
    assert compiled.val_loss == pytest.approx(eager.val_loss, rel=1e-4)
    assert compiled.test_accuracy == pytest.approx(eager.test_accuracy, abs=0.01)
