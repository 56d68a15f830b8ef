"""Data-parallel trials through Ray Train for real: 2 gloo workers on CPU against one process.

- ``global``: after a few steps the 2-worker weights equal one process on the concatenated batch (1e-5), for
  every registry name, and both workers hold the same weights.
- ``local``: each worker perturbs with its own minibatch gradient (the perturbations differ), and the update
  is the mean of the per-worker SAM gradients.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pipeline.optim import create_optimizer, list_optimizers
from pipeline.train.config import TrialConfig
from pipeline.train.runner import TrialCallbacks, run_trial

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

WORKERS = 2


def tiny(optimizer: str, perturbation: str = "global") -> TrialConfig:
    # 240 training examples in batches of 64: 3 full batches and one of 48, split 24/24 between the workers.
    return TrialConfig.model_validate(
        {
            "data": {"name": "synthetic", "synthetic": {"n_samples": 400}},
            "model": {"name": "mlp", "hidden": [16]},
            "optimizer": optimizer,
            "lr": 0.05,
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "batch_size": 64,
            "epochs": 1,
            "seed": 3,
            "device": "cpu",
            "perturbation": perturbation,
        }
    )


class _KeepModel(TrialCallbacks):
    def on_start(self, model):
        self.model = model


def final_weights(cfg: TrialConfig, parallel=None) -> dict[str, torch.Tensor]:
    keep = _KeepModel()
    result = run_trial(cfg, keep, parallel)
    assert result.status == "ok"
    return {k: v.detach().clone() for k, v in keep.model.state_dict().items()}


def _worker(config: dict) -> None:
    """Runs on every Ray Train worker: each registry name in global mode, then one manual local SAM step."""
    import torch.distributed as dist

    from pipeline.optim import create_optimizer as build
    from pipeline.train.data_parallel import DataParallel, attach

    out = Path(config["out"])
    rank = dist.get_rank()
    for name in config["names"]:
        weights = final_weights(tiny(name), DataParallel.from_process_group("global"))
        torch.save(weights, out / f"{name}-rank{rank}.pt")

    # Checkpoint and resume: a local-perturbation LETS-MP-SAM trial (per-worker state) crashes after its first
    # epoch on every worker, and a rerun resumes each worker from its own checkpoint.
    resumable = tiny("lets-mpsam", "local").model_copy(update={"epochs": 2})
    torch.save(
        final_weights(resumable, DataParallel.from_process_group("local")), out / f"resume-straight-rank{rank}.pt"
    )
    with_checkpoints = resumable.model_copy(update={"checkpoint_dir": config["checkpoints"]})
    try:
        run_trial(with_checkpoints, _CrashAfterFirstEpoch(), DataParallel.from_process_group("local"))
    except _Crash:
        pass
    torch.save(
        final_weights(with_checkpoints, DataParallel.from_process_group("local")), out / f"resume-resumed-rank{rank}.pt"
    )

    # Local SAM by hand, one step on a fixed global batch: record this worker's perturbation and the result.
    model, x, y = _local_problem()
    parallel = DataParallel.from_process_group("local")
    ddp = parallel.wrap(model, torch.device("cpu"))
    optimizer = build("sam", model.parameters(), lr=0.1, momentum=0.0, rho=0.5)
    attach(optimizer, parallel)
    mine = parallel.shard(torch.arange(len(y)))

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(ddp(x[mine]), y[mine], reduction="sum") * (parallel.world_size / len(y))
        if torch.is_grad_enabled():
            loss.backward()
        return loss.detach()

    perturbation = sam_step_returning_perturbation(optimizer, closure)
    torch.save(
        {"perturbation": perturbation, "weights": [p.detach().clone() for p in model.parameters()]},
        out / f"local-rank{rank}.pt",
    )


def sam_step_returning_perturbation(optimizer, closure) -> list[torch.Tensor]:
    """One step through the rule's public pass protocol (what ``step`` does), returning the perturbation ``e``."""
    loss = optimizer.clean_pass(closure)
    params = optimizer.participating_params()
    displacement = optimizer.compute_update(closure, loss, params, optimizer.rho)
    optimizer.finish_step()
    return displacement()


class _Crash(RuntimeError):
    pass


class _CrashAfterFirstEpoch(TrialCallbacks):
    def on_epoch(self, record):  # called after the epoch's checkpoint is written
        raise _Crash("simulated crash")


def _local_problem():
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    x = torch.randn(32, 6, generator=gen)
    y = torch.randint(0, 3, (32,), generator=gen)
    return model, x, y


@pytest.fixture(scope="module")
def worker_outputs(tmp_path_factory) -> Path:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    out = tmp_path_factory.mktemp("data_parallel")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # address="local": a Ray of this test's own, even when a cluster started with `ray start` runs on this machine
    # (a bare ray.init() would join it, and run this test's workers on someone else's cluster).
    # ray.init sets RAY_AUTH_MODE=token in this process's environment; a later test of the same pytest worker
    # must not inherit it into the commands it starts (their Ray would then stay silent about its token).
    auth_mode = os.environ.get("RAY_AUTH_MODE")
    ray.init(address="local", num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    try:
        trainer = TorchTrainer(
            _worker,
            train_loop_config={"out": str(out), "names": list_optimizers(), "checkpoints": str(out / "ckpt")},
            scaling_config=ScalingConfig(num_workers=WORKERS, use_gpu=False, resources_per_worker={"CPU": 1}),
            torch_config=TorchConfig(backend="gloo"),
            run_config=RunConfig(name="data-parallel-test", storage_path=str(out / "ray")),
        )
        trainer.fit()
    finally:
        ray.shutdown()
        if auth_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth_mode
    return out


@pytest.mark.parametrize("name", list_optimizers())
def test_global_matches_one_process_on_the_concatenated_batch(worker_outputs: Path, name: str) -> None:
    one_process = final_weights(tiny(name))
    ranks = [torch.load(worker_outputs / f"{name}-rank{r}.pt") for r in range(WORKERS)]
    for key, expected in one_process.items():
        for r, weights in enumerate(ranks):
            torch.testing.assert_close(
                weights[key], expected, atol=1e-5, rtol=0, msg=lambda m, r=r, key=key: f"{name} rank {r}: {key}: {m}"
            )
    moved = max((one_process[k] - final_weights_at_start(name)[k]).abs().max().item() for k in one_process)
    assert moved > 1e-3, "the trial must actually train"


def final_weights_at_start(name: str) -> dict[str, torch.Tensor]:
    from pipeline.data import build_dataset
    from pipeline.models import build_model

    cfg = tiny(name)
    data = build_dataset(cfg.data, cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes, seed=cfg.seed)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_local_perturbs_per_worker_and_averages_their_sam_gradients(worker_outputs: Path) -> None:
    saved = [torch.load(worker_outputs / f"local-rank{r}.pt") for r in range(WORKERS)]
    # The perturbations differ: each worker ascended along its own half-batch gradient.
    assert any(
        not torch.allclose(a, b) for a, b in zip(saved[0]["perturbation"], saved[1]["perturbation"], strict=True)
    )
    # Expected: per worker, one-device SAM's gradient on its own half (its loss is the half's mean), then the mean.
    model, x, y = _local_problem()
    start = [p.detach().clone() for p in model.parameters()]
    halves = torch.tensor_split(torch.arange(len(y)), WORKERS)
    grads, perturbations = [], []
    for rows in halves:
        model_w, _, _ = _local_problem()
        optimizer = create_optimizer("sam", model_w.parameters(), lr=0.1, momentum=0.0, rho=0.5)

        def closure(model_w=model_w, optimizer=optimizer, rows=rows):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model_w(x[rows]), y[rows]) * (len(rows) * WORKERS / len(y))
            if torch.is_grad_enabled():
                loss.backward()
            return loss.detach()

        perturbations.append(sam_step_returning_perturbation(optimizer, closure))
        grads.append([(s - p.detach()) / 0.1 for s, p in zip(start, model_w.parameters(), strict=True)])
    mean_grad = [(a + b) / 2 for a, b in zip(*grads, strict=True)]
    for r in range(WORKERS):
        for got, expected in zip(saved[r]["perturbation"], perturbations[r], strict=True):
            torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        for got, s, g in zip(saved[r]["weights"], start, mean_grad, strict=True):
            torch.testing.assert_close(got, s - 0.1 * g, atol=1e-6, rtol=0)


def test_each_worker_resumes_from_its_own_checkpoint(worker_outputs: Path) -> None:
    for r in range(WORKERS):
        straight = torch.load(worker_outputs / f"resume-straight-rank{r}.pt")
        resumed = torch.load(worker_outputs / f"resume-resumed-rank{r}.pt")
        for key, value in straight.items():
            torch.testing.assert_close(
                resumed[key], value, atol=0, rtol=0, msg=lambda m, key=key, r=r: f"rank {r} {key}: {m}"
            )
    assert sorted(p.name for p in (worker_outputs / "ckpt").iterdir()) == [f"rank{r}" for r in range(WORKERS)]
