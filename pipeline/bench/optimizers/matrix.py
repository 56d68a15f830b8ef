"""The variant matrix: which optimizer configurations are measured, and each one built ready to step.

Every registry name is one row; XSAM gets a second row for its search steps, and the benchmark's loop SAM
one more (the yardstick for ours). Three rows show training recipes: SGD and SAM under fp16 with a GradScaler,
and SAM with its batch in 4 micro-batches (``training.precision`` and ``training.accumulate``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.bench.optimizers.reference_sam import LoopSAM
from pipeline.optim import LETS, bn_update_once_per_step, create_optimizer, passes_per_step, trainer_hyperparameters
from pipeline.optim.xsam import DEFAULT_ALPHA_GRID

# Optimizer settings shared by every optimizer in the benchmark. The learning rate is
# small so that the parameters stay in a normal range over the run (a fixed batch is
# revisited every step); the cost of a step does not depend on it.
LR = 1e-3
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4

# Steps per epoch for what the trainer sets by the epoch (XSAM's alpha search on an epoch's first step): one
# epoch longer than any run, so that only step 0 (a warm-up step) searches.
ONE_LONG_EPOCH = 10**9

LOOP_SAM_LABEL = "sam-loop (reference shape)"
XSAM_SEARCH_LABEL = "xsam [search step]"

KIND_BASELINE = "baseline"
KIND_ORDINARY = "ordinary"
KIND_SEARCH = "search"
KIND_REFERENCE = "reference"
KIND_RECIPE = "recipe"  # fp16 or accumulation: what a recipe costs, not a rule's overhead
ACCUMULATE = 4

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class BenchVariant:
    """One measured optimizer configuration (one table row per model)."""

    label: str
    registry_name: str | None  # None: the benchmark's LoopSAM
    kind: str
    steps_per_epoch: int = ONE_LONG_EPOCH  # 1 for XSAM's search steps: every step starts an epoch
    precision: str = "fp32"  # fp16: autocast on the benchmark's device with a GradScaler
    accumulate: int = 1  # micro-batches per step


def variants(names: Sequence[str]) -> list[BenchVariant]:
    out: list[BenchVariant] = []
    for name in names:
        out.append(BenchVariant(name, name, KIND_BASELINE if name == "sgd" else KIND_ORDINARY))
        if name == "xsam":
            out.append(BenchVariant(XSAM_SEARCH_LABEL, "xsam", KIND_SEARCH, steps_per_epoch=1))
    if "sam" in names:
        out.append(BenchVariant(LOOP_SAM_LABEL, None, KIND_REFERENCE))
    for name in ("sgd", "sam"):
        if name in names:
            out.append(BenchVariant(f"{name} [fp16]", name, KIND_RECIPE, precision="fp16"))
    if "sam" in names:
        out.append(BenchVariant(f"sam [accumulate {ACCUMULATE}]", "sam", KIND_RECIPE, accumulate=ACCUMULATE))
    return out


def passes(variant: BenchVariant) -> float:
    if variant.registry_name is None:
        return 2.0
    return float(passes_per_step(variant.registry_name))


def forward_probes(variant: BenchVariant) -> int:
    return len(DEFAULT_ALPHA_GRID) if variant.kind == KIND_SEARCH else 0


@dataclass
class Instance:
    """One variant on its own copy of the model, with the step to time and the times taken."""

    variant: BenchVariant
    step: Callable[[], torch.Tensor]
    last_loss: torch.Tensor | None = None
    times_s: list[float] = dataclasses.field(default_factory=list)


def make_instance(
    variant: BenchVariant, base_model: nn.Module, batch: Batch, val_batch: Batch, device: torch.device, seed: int
) -> Instance:
    model = copy.deepcopy(base_model)
    model.train()
    optimizer = _build_optimizer(variant, model, device, seed)
    fp16 = variant.precision == "fp16"
    scaler = torch.amp.GradScaler(device.type) if fp16 else None
    if scaler is not None and hasattr(optimizer, "grad_scaler"):
        optimizer.grad_scaler = scaler

    def closure_on(x: torch.Tensor, y: torch.Tensor) -> Callable[[], torch.Tensor]:
        parts = list(zip(x.tensor_split(variant.accumulate), y.tensor_split(variant.accumulate), strict=True))

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            total = None
            for xs, ys in parts:
                with torch.autocast(device.type, dtype=torch.float16, enabled=fp16):
                    loss = F.cross_entropy(model(xs).float(), ys, reduction="sum") / len(x)
                if torch.is_grad_enabled():
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                total = loss.detach() if total is None else total + loss.detach()
            return total

        return closure if (fp16 or variant.accumulate > 1) else _plain_closure(optimizer, model, x, y)

    closure = closure_on(*batch)
    if isinstance(optimizer, LETS):
        val_closure = closure_on(*val_batch)

        def step() -> torch.Tensor:
            return optimizer.step(closure, val_closure)

    elif scaler is not None and not hasattr(optimizer, "grad_scaler"):  # SGD: torch's AMP recipe

        def step() -> torch.Tensor:
            loss = closure()
            scaler.step(optimizer)
            scaler.update()
            return loss

    else:

        def step() -> torch.Tensor:
            return optimizer.step(closure)

    return Instance(variant, step)


def _plain_closure(
    optimizer: torch.optim.Optimizer, model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """The closure of every row but the recipes: one fp32 pass on the whole batch."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    return closure


def _build_optimizer(variant: BenchVariant, model: nn.Module, device: torch.device, seed: int) -> torch.optim.Optimizer:
    """The loop SAM, or the registry optimizer with what a trainer sets (``seed`` seeds its generator)."""
    if variant.registry_name is None:
        base = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        return LoopSAM(base, model)
    generator = torch.Generator(device=device).manual_seed(seed)
    name = variant.registry_name
    hparams = trainer_hyperparameters(name, steps_per_epoch=variant.steps_per_epoch, generator=generator)
    optimizer = create_optimizer(
        name, model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, **hparams
    )
    bn_update_once_per_step(optimizer, model)
    return optimizer
