"""run_trial: one training run, the unit of work of every study. It reads top to bottom:

set up (device, data, model, optimizer, schedule, generators) -> resume from a checkpoint if one
exists -> epochs of closure-driven steps -> validation after each epoch (early stopping, checkpoint,
callback) -> test evaluation of the best-validation and the last model -> TrialResult.

Every random draw comes from a generator derived from the trial seed, so one seed gives the same
initial weights, split, batch order and augmentation for every optimizer: runs are paired by seed.
"""

from __future__ import annotations

import math
import platform
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.data import DatasetSplits, Split, augment_batch, build_dataset
from pipeline.models import build_model
from pipeline.optim import (
    LETS,
    SAMFamilyOptimizer,
    base_optimizer,
    bn_update_once_per_step,
    create_optimizer,
    passes_per_step,
    trainer_hyperparameters,
)
from pipeline.provenance import trial_versions
from pipeline.seeding import derive_seed
from pipeline.train.checkpoint import load_checkpoint, save_checkpoint
from pipeline.train.config import TrialConfig
from pipeline.train.data_parallel import DataParallel, attach
from pipeline.train.result import EpochRecord, Status, TrialResult


class TrialCallbacks:
    """Hooks into a running trial; override what you need. Studies report to Ray Tune and MLflow here."""

    def on_start(self, model: nn.Module) -> None:
        """The model, built and initialised (or restored from a checkpoint), before the first step."""

    def on_batch(self, epoch: int, step: int, indices: Tensor) -> None:
        """The training-set indices of the batch about to be stepped on."""

    def on_epoch(self, record: EpochRecord) -> None:
        """Metrics after an epoch (after the checkpoint is written)."""

    def on_outcomes(self, outcomes: dict[str, tuple[Tensor, Tensor]]) -> None:
        """The selected model's predicted class and the label of every example, by split (``test``, and
        ``shifted_test`` when the data has one), on the CPU; not called when no epoch finished."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but CUDA is not available here; use --device cpu or auto")
    return device


def run_trial(
    cfg: TrialConfig,
    callbacks: TrialCallbacks | None = None,
    parallel: DataParallel | None = None,
    device: torch.device | None = None,
) -> TrialResult:
    """Train one model as ``cfg`` says and return its metrics. A diverging run returns status
    ``diverged`` with its last finite metrics; it never raises for that.

    ``parallel``: this process is one data-parallel worker of the trial (see ``data_parallel``); every worker
    calls ``run_trial`` with the same ``cfg`` and gets the same result. ``device`` overrides ``cfg.device``
    (a worker's own GPU)."""
    device = device or resolve_device(cfg.device)
    cuda_devices = [device] if device.type == "cuda" else []
    # Dropout can only draw from the global RNG: fork it, seed it from the trial, and leave the caller's alone.
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(derive_seed(cfg.seed, "dropout"))
        return _Trial(cfg, device, callbacks or TrialCallbacks(), parallel).run()


@dataclass
class _LoopState:
    """Everything that changes from epoch to epoch and must survive a restart."""

    epoch: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = -1
    best_state: dict[str, Tensor] | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    train_time_s: float = 0.0
    samples_seen: int = 0
    rho_trajectory: list[float] | None = None
    val_cursor: int = 0
    skipped_steps: int = 0  # fp16: steps skipped for non-finite gradients


class _Trial:
    def __init__(
        self,
        cfg: TrialConfig,
        device: torch.device,
        callbacks: TrialCallbacks,
        parallel: DataParallel | None = None,
    ) -> None:
        self.started = time.perf_counter()
        self.resumed_at_epoch: int | None = None  # epochs a checkpoint held when this process picked it up
        self.cfg, self.device, self.callbacks, self.parallel = cfg, device, callbacks, parallel
        self.config_json = cfg.model_dump_json()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

        self.data: DatasetSplits = build_dataset(cfg.data, cfg.seed).to(device)
        self.channels_last = device.type == "cuda" and self.data.is_image
        self.model = build_model(cfg.model, self.data.input_shape, self.data.num_classes, seed=cfg.seed).to(device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # Evaluation runs on the plain model (every worker holds the same weights); training goes through DDP.
        self.eval_forward: Callable[[Tensor], Tensor] = torch.compile(self.model) if cfg.compile else self.model
        self.forward = self.eval_forward
        if parallel is not None:
            wrapped = parallel.wrap(self.model, device)
            self.forward = torch.compile(wrapped) if cfg.compile else wrapped

        n_train = len(self.data.train)
        # Every micro-batch of the last batch must hold MIN_BATCH examples too.
        self.min_last_batch = MIN_BATCH * (parallel.world_size if parallel else 1) * cfg.accumulate
        self.steps_per_epoch = _batch_count(n_train, cfg.batch_size, self.min_last_batch)
        self.optimizer = self._build_optimizer()
        if parallel is not None:
            attach(self.optimizer, parallel)
        bn_update_once_per_step(self.optimizer, self.model)
        self.base_optimizer = base_optimizer(self.optimizer)
        # fp16: loss scaling. A SAM-family rule unscales its passes and drives the scaler itself; plain SGD is
        # stepped through the scaler here (_plain_step).
        self.scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" else None
        self.rule = self.optimizer if isinstance(self.optimizer, SAMFamilyOptimizer | LETS) else None
        if self.rule is not None:
            self.rule.grad_scaler = self.scaler
            self.rule.clip_grad_norm = cfg.clip_grad_norm
        self.scheduler = _build_scheduler(self.base_optimizer, cfg)

        self.shuffle_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "shuffle"))
        self.augment_gen = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, "augment"))
        self.val_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "lets-validation"))
        self.val_order = torch.randperm(len(self.data.val), generator=self.val_gen)
        self.state = _LoopState()
        if isinstance(self.optimizer, LETS):
            self.state.rho_trajectory = [self.optimizer.rho]

    def _build_optimizer(self) -> torch.optim.Optimizer:
        """The user's hyperparameters plus what the registry says the trainer sets (steps per epoch, a generator
        from the trial seed; its purpose is still named "mpsam", so that earlier trials' draws repeat)."""
        cfg = self.cfg
        generator = torch.Generator(device=self.device).manual_seed(derive_seed(cfg.seed, "mpsam"))
        trainer_set = trainer_hyperparameters(cfg.optimizer, steps_per_epoch=self.steps_per_epoch, generator=generator)
        params = self.model.parameters()
        return create_optimizer(cfg.optimizer, params, **cfg.optimizer_kwargs(), **cfg.hparams, **trainer_set)

    # ------------------------------------------------------------------ the loop

    def run(self) -> TrialResult:
        cfg = self.cfg
        if cfg.checkpoint_dir is not None:
            self._resume()  # replaces self.state: bind the name only after it
        state = self.state
        self.callbacks.on_start(self.model)
        status: Status = "ok"
        while state.epoch < cfg.epochs and not state.stopped_early:
            epoch_started = time.perf_counter()
            train_loss = self._train_epoch(state.epoch)
            state.train_time_s += time.perf_counter() - epoch_started
            if not math.isfinite(train_loss):
                status = "diverged"
                break
            val_loss, val_accuracy = self._evaluate(self.data.val)
            if not math.isfinite(val_loss):
                status = "diverged"
                break
            self.scheduler.step()
            record = EpochRecord(
                epoch=state.epoch,
                train_loss=train_loss,
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                lr=float(self.base_optimizer.param_groups[0]["lr"]),
                seconds=time.perf_counter() - epoch_started,
                rho=self.optimizer.rho if isinstance(self.optimizer, LETS) else None,
            )
            self._end_epoch(record)
        return self._finish(status)

    def _train_epoch(self, epoch: int) -> float:
        """One pass over the training split. Returns the mean clean-point loss, or nan on divergence."""
        cfg, data = self.cfg, self.data
        self.model.train()
        order = torch.randperm(len(data.train), generator=self.shuffle_gen).to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        seen = 0
        for step, indices in enumerate(_batches(order, cfg.batch_size, self.min_last_batch)):
            self.callbacks.on_batch(epoch, step, indices)
            mine = self.parallel.shard(indices) if self.parallel else indices
            x, y = data.train.x[mine], data.train.y[mine]
            if data.is_image and cfg.data.augment:
                x = augment_batch(x, self.augment_gen, cutout=cfg.data.cutout)
            loss = self._step(self._closure(x, y, len(indices)))
            if self.parallel is not None:  # every worker must see the same loss to stop at the same step
                loss = loss.detach().clone()
                self.parallel.mean_([loss])
            # One host read per step: a diverging run must stop at once, before it wastes the epoch.
            if not bool(torch.isfinite(loss)):
                return math.nan
            loss_sum += loss.detach() * len(indices)
            seen += len(indices)
        self.state.samples_seen += seen
        return float(loss_sum / seen)

    def _step(self, closure: Callable[[], Tensor]) -> Tensor:
        """One optimizer step on ``closure``'s batch (LETS: and the next validation batch); counts a skipped one."""
        skipped = self.rule.skipped_steps if self.rule is not None else 0
        if isinstance(self.optimizer, LETS):
            val_x, val_y, val_count = self._next_validation_batch()
            loss = self.optimizer.step(closure, self._closure(val_x, val_y, val_count))
        elif self.rule is not None:
            loss = self.optimizer.step(closure)
        else:
            loss = self._plain_step(closure)
        if self.rule is not None:
            self.state.skipped_steps += self.rule.skipped_steps - skipped
        return loss

    def _plain_step(self, closure: Callable[[], Tensor]) -> Tensor:
        """SGD (one pass), as torch's AMP recipe steps it: unscale, clip, step through the scaler, update."""
        cfg, scaler, optimizer = self.cfg, self.scaler, self.optimizer
        if scaler is None and cfg.clip_grad_norm is None:
            return optimizer.step(closure)  # exactly as before these settings existed
        with torch.enable_grad():
            loss = closure()
        if scaler is not None:
            scaler.unscale_(optimizer)
        if cfg.clip_grad_norm is not None:
            grads = [p for p in self.model.parameters() if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(grads, cfg.clip_grad_norm)
        if scaler is None:
            optimizer.step()
            return loss
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        self.state.skipped_steps += int(scaler.get_scale() < scale)  # it backs off exactly when it skipped
        return loss

    def _closure(self, x: Tensor, y: Tensor, global_count: int) -> Callable[[], Tensor]:
        """The closure protocol on this worker's ``x, y``. Data-parallel: the loss is the worker's sum scaled by
        ``world_size / global_count``, so that DDP's mean over workers is the mean over the whole global batch.
        With ``accumulate`` k: every call runs the batch in k micro-batches, each loss a sum scaled by
        ``1 / global_count`` (and the world size), so that the gradients add up to the whole batch's."""
        parallel, cfg = self.parallel, self.cfg
        # None: one process, one part, cross-entropy's own mean (as before accumulation existed).
        summed = parallel is not None or cfg.accumulate > 1
        scale = (parallel.world_size if parallel else 1) / global_count if summed else None
        parts = list(zip(x.tensor_split(cfg.accumulate), y.tensor_split(cfg.accumulate), strict=True))

        def closure() -> Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            total: Tensor | None = None
            for xs, ys in parts:
                with self._autocast():
                    logits = self.forward(xs).float()
                    if scale is None:
                        loss = F.cross_entropy(logits, ys, label_smoothing=cfg.label_smoothing)
                    else:
                        loss = F.cross_entropy(logits, ys, label_smoothing=cfg.label_smoothing, reduction="sum") * scale
                if torch.is_grad_enabled():
                    (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
                total = loss.detach() if total is None else total + loss.detach()
            assert total is not None
            return total

        return closure

    def _next_validation_batch(self) -> tuple[Tensor, Tensor, int]:
        """LETS's validation batches, cycling through the validation split (never the test split): this
        worker's part of the batch and the size of the whole batch."""
        n, size = len(self.data.val), min(self.cfg.batch_size, len(self.data.val))
        if self.state.val_cursor + size > n:
            self.val_order = torch.randperm(n, generator=self.val_gen)
            self.state.val_cursor = 0
        indices = self.val_order[self.state.val_cursor : self.state.val_cursor + size].to(self.device)
        self.state.val_cursor += size
        mine = self.parallel.shard(indices) if self.parallel is not None else indices
        return self.data.val.x[mine], self.data.val.y[mine], len(indices)

    def _autocast(self) -> ContextManager[Any]:
        """``precision``: auto is bf16 on CUDA and fp32 on the CPU; fp16 and bf16 autocast on either device."""
        precision = self.cfg.precision
        if precision == "auto":
            precision = "bf16" if self.device.type == "cuda" else "fp32"
        if precision == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)

    @torch.no_grad()
    def _evaluate(self, split: Split, predictions: Tensor | None = None) -> tuple[float, float]:
        """Mean cross-entropy and accuracy over a whole split, in eval mode; one host read at the end. Given
        ``predictions`` (one per example, zeros), each example's predicted class is written into it."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        # Data-parallel: each worker evaluates its slice of the split and the sums are all-reduced.
        rows = self.parallel.shard(torch.arange(len(split))) if self.parallel else torch.arange(len(split))
        lo, hi = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, 0)
        for start in range(lo, hi, self.cfg.eval_batch_size):
            x = split.x[start : min(start + self.cfg.eval_batch_size, hi)]
            y = split.y[start : min(start + self.cfg.eval_batch_size, hi)]
            with self._autocast():
                logits = self.eval_forward(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            predicted = logits.argmax(dim=1)
            correct += (predicted == y).sum()
            if predictions is not None:
                predictions[start : start + len(predicted)] = predicted
        if self.parallel is not None:
            sums = self.parallel.sum_(torch.stack([loss_sum.double(), correct.double()]))
            loss_sum, correct = sums[0], sums[1]
            if predictions is not None:  # each worker filled its slice of the zeros: the sum is every slice
                predictions.copy_(self.parallel.sum_(predictions.double()).long())
        values = torch.stack([loss_sum / len(split), correct.double() / len(split)]).tolist()
        return float(values[0]), float(values[1])

    def _end_epoch(self, record: EpochRecord) -> None:
        state = self.state
        state.history.append(record)
        if record.rho is not None and state.rho_trajectory is not None:
            state.rho_trajectory.append(record.rho)
        if record.val_loss < state.best_val_loss:
            state.best_val_loss, state.best_epoch, state.bad_epochs = record.val_loss, record.epoch, 0
            state.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            state.bad_epochs += 1
            if self.cfg.patience is not None and state.bad_epochs >= self.cfg.patience:
                state.stopped_early = True
        state.epoch += 1
        if self.cfg.checkpoint_dir is not None:
            self._save()
        self.callbacks.on_epoch(record)

    # ------------------------------------------------------------ the result

    def _finish(self, status: Status) -> TrialResult:
        state, data = self.state, self.data
        nan = math.nan
        final_test = self._evaluate(data.test) if status == "ok" else (nan, nan)
        final_val = state.history[-1].val_accuracy if status == "ok" and state.history else nan
        if state.best_state is not None:
            (test_loss, test_accuracy), shifted = self._score_selected(state.best_state)
            best = state.history[[r.epoch for r in state.history].index(state.best_epoch)]
        else:  # diverged in the first epoch: nothing finite to report
            test_loss = test_accuracy = nan
            shifted = (nan, nan) if data.shifted_test is not None else None
            best = None
        train_time = state.train_time_s
        return TrialResult(
            status=status,
            optimizer=self.cfg.optimizer,
            seed=self.cfg.seed,
            test_accuracy=test_accuracy,
            test_loss=test_loss,
            val_accuracy=best.val_accuracy if best else nan,
            val_loss=best.val_loss if best else nan,
            train_loss=best.train_loss if best else nan,
            best_epoch=state.best_epoch,
            epochs_run=len(state.history),
            final_test_accuracy=final_test[1],
            final_val_accuracy=final_val,
            shifted_test_accuracy=shifted[1] if shifted else None,
            shifted_test_loss=shifted[0] if shifted else None,
            history=list(state.history),
            rho_trajectory=state.rho_trajectory,
            wall_time_s=time.perf_counter() - self.started,
            train_time_s=train_time,
            passes_per_step=passes_per_step(self.cfg.optimizer, **self.cfg.hparams),
            steps_per_epoch=self.steps_per_epoch,
            samples_per_second=state.samples_seen / train_time if train_time > 0 else 0.0,
            peak_memory_mb=_peak_memory_mb(self.device),
            device=_describe(self.device),
            versions=trial_versions(),
            config=self.cfg.model_dump(mode="json"),
            resumed_at_epoch=self.resumed_at_epoch,
            skipped_steps=state.skipped_steps,
        )

    def _score_selected(self, weights: dict[str, Tensor]) -> tuple[tuple[float, float], tuple[float, float] | None]:
        """The selected model's (loss, accuracy) on the test set and on the shifted test set (None without one);
        each example's prediction goes to ``on_outcomes``."""
        self.model.load_state_dict(weights)
        data = self.data
        splits = {"test": data.test} | ({"shifted_test": data.shifted_test} if data.shifted_test is not None else {})
        scores, outcomes = {}, {}
        for name, split in splits.items():
            predicted = torch.zeros(len(split), dtype=torch.long, device=self.device)
            scores[name] = self._evaluate(split, predicted)
            outcomes[name] = (predicted.cpu(), split.y.cpu())
        self.callbacks.on_outcomes(outcomes)
        return scores["test"], scores.get("shifted_test")

    # ----------------------------------------------------------- checkpoints

    def _save(self) -> None:
        state = self.state
        payload = {
            "config": self.config_json,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": {
                "shuffle": self.shuffle_gen.get_state(),
                "augment": self.augment_gen.get_state(),
                "validation": self.val_gen.get_state(),
                "validation_order": self.val_order,
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            },
            # Shallow: the best weights are saved as they are; the EpochRecords become plain dicts.
            "loop": {**vars(state), "history": [asdict(r) for r in state.history]},
        }
        save_checkpoint(self._checkpoint_dir(), payload)

    def _checkpoint_dir(self) -> str:
        """Data-parallel workers each keep their own (their optimizer state differs under local)."""
        assert self.cfg.checkpoint_dir is not None
        return f"{self.cfg.checkpoint_dir}/rank{self.parallel.rank}" if self.parallel else self.cfg.checkpoint_dir

    def _resume(self) -> None:
        payload = load_checkpoint(self._checkpoint_dir(), self.config_json)
        if self.parallel is not None:
            self.parallel.check_agreement(-1 if payload is None else int(payload["loop"]["epoch"]), "their checkpoint")
        if payload is None:
            return
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        if self.scaler is not None and payload.get("scaler") is not None:
            self.scaler.load_state_dict(payload["scaler"])
        rng = payload["rng"]
        self.shuffle_gen.set_state(rng["shuffle"])
        self.augment_gen.set_state(rng["augment"])
        self.val_gen.set_state(rng["validation"])
        self.val_order = rng["validation_order"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        loop = dict(payload["loop"])
        loop["history"] = [EpochRecord(**r) for r in loop["history"]]
        if loop["best_state"] is not None:
            loop["best_state"] = {k: v.to(self.device) for k, v in loop["best_state"].items()}
        self.state = _LoopState(**loop)
        self.resumed_at_epoch = self.state.epoch


MIN_BATCH = 2  # BatchNorm in training mode needs two examples


def _batch_count(n: int, batch_size: int, min_last: int = MIN_BATCH) -> int:
    """Full batches, plus the remainder when it holds at least ``min_last`` examples (MIN_BATCH per worker)."""
    return n // batch_size + (1 if n % batch_size >= min_last else 0)


def _batches(order: Tensor, batch_size: int, min_last: int = MIN_BATCH) -> Iterator[Tensor]:
    """The ``_batch_count`` consecutive batches of ``order``."""
    for i in range(_batch_count(len(order), batch_size, min_last)):
        yield order[i * batch_size : (i + 1) * batch_size]


def _build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrialConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """An epoch-level schedule on the base optimizer (where the learning rate lives)."""
    if cfg.schedule == "cosine":
        factor: Callable[[int], float] = lambda epoch: (
            0.5 * (1 + math.cos(math.pi * min(epoch, cfg.epochs) / cfg.epochs))
        )
    elif cfg.schedule == "step":
        factor = lambda epoch: cfg.step_gamma ** (epoch // cfg.step_every)
    else:
        factor = lambda epoch: 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # On the CPU only the process's peak resident set is known (KiB on Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
