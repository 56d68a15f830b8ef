"""Measured cost of one optimizer step of every SAM-family optimizer, relative to plain SGD.

What is timed is the whole ``step(closure)`` call, closure passes included
(``step(closure, val_closure)`` for the LETS variants), from a synchronised device
to a synchronised device. For each model and optimizer the benchmark reports

- ``passes``: forward+backward passes per step, from ``pipeline.optim.passes_per_step``;
- ``ratio``: median step time / median SGD step time on the same model and batch;
- ``ratio_per_pass``: ``ratio / passes``, the cost beyond the forward/backward work
  (1.0 means the optimizer adds nothing but its passes).

The project's target is ``ratio_per_pass <= 1.10`` for every optimizer except XSAM's
search steps (its forward-only alpha probes are not counted in ``passes``). XSAM is
therefore measured twice: ordinary steps (the hyperparameters the trainer sets by the
epoch are set for one epoch longer than the run, so that no timed step searches, as
between the once-per-epoch searches in training) and search steps (a separate instance
with one step per epoch).

The benchmark also carries its own per-parameter-loop SAM, written in the shape of the
widely used PyTorch reference code (``davda54/sam``), and reports our SAM's speed-up
over it.

Method: every optimizer gets its own copy of one seeded model and the same fixed
synthetic batch (a second batch of the same size serves as LETS's validation batch).
After warm-up steps, the optimizers take one step each per round, in an order rotated
every round, so that drift of the machine (thermal state, other processes) falls on
all of them alike; the reported time is the median over rounds. The Python garbage
collector runs between rounds, never inside a timed step.

Run: ``sam-study bench optimizers`` or ``python -m pipeline.bench.optimizer_overhead``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.json_safe import finite_or_none
from pipeline.optim import (
    LETS,
    bn_update_once_per_step,
    create_optimizer,
    list_optimizers,
    passes_per_step,
    trainer_hyperparameters,
)
from pipeline.optim.xsam import DEFAULT_ALPHA_GRID

TARGET_RATIO_PER_PASS = 1.10
"""Upper bound on ``ratio / passes`` that every optimizer except XSAM's search steps must meet."""

NOISY_RELATIVE_IQR = 0.10
"""Above this spread of SGD's step times (interquartile range / median) a model's results are flagged as noisy."""

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


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class BenchModel:
    """A benchmark model: how to build it and the shape of its fixed batch."""

    name: str
    description: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # one example, without the batch dimension
    batch_size: int
    n_classes: int = 10


def _mlp(widths: Sequence[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _cnn(channels: int, image_size: int, n_classes: int) -> nn.Module:
    """Three conv-BN-ReLU-maxpool blocks (channels, 2x, 4x) and a linear head."""

    def block(n_in: int, n_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(n_in, n_out, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(n_out),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    c = channels
    side = image_size // 8
    return nn.Sequential(
        *block(3, c),
        *block(c, 2 * c),
        *block(2 * c, 4 * c),
        nn.Flatten(),
        nn.Linear(4 * c * side * side, n_classes),
    )


def _deep_narrow(depth: int, width: int, n_in: int, n_classes: int) -> nn.Module:
    """``depth`` blocks of Linear(width, width) + BatchNorm1d + ReLU: many small tensors."""
    layers: list[nn.Module] = [nn.Linear(n_in, width)]
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU()]
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def bench_models(quick: bool = False) -> dict[str, BenchModel]:
    """The benchmark's models by name: ``mlp``, ``cnn``, ``deep``.

    Full sizes are chosen so that one SGD step takes roughly 10-40 ms on a 2-core CPU;
    ``quick`` gives tiny versions of the same architectures for smoke tests.
    """
    if quick:
        return {
            "mlp": BenchModel("mlp", "MLP 32-64-64-10, batch 32", lambda: _mlp([32, 64, 64, 10]), (32,), 32),
            "cnn": BenchModel(
                "cnn", "CNN 3 conv-BN blocks (4-8-16 ch) on 3x8x8, batch 8", lambda: _cnn(4, 8, 10), (3, 8, 8), 8
            ),
            "deep": BenchModel(
                "deep",
                "deep narrow MLP: 6 x (Linear 8-8 + BatchNorm1d), batch 16",
                lambda: _deep_narrow(6, 8, 8, 10),
                (8,),
                16,
            ),
        }
    return {
        "mlp": BenchModel(
            "mlp", "MLP 512-1024-1024-10, batch 256", lambda: _mlp([512, 1024, 1024, 10]), (512,), 256
        ),
        "cnn": BenchModel(
            "cnn",
            "CNN 3 conv-BN blocks (32-64-128 ch) on 3x32x32, batch 64",
            lambda: _cnn(32, 32, 10),
            (3, 32, 32),
            64,
        ),
        "deep": BenchModel(
            "deep",
            "deep narrow MLP: 64 x (Linear 64-64 + BatchNorm1d), batch 512",
            lambda: _deep_narrow(64, 64, 64, 10),
            (64,),
            512,
        ),
    }


def _build_model(spec: BenchModel, device: torch.device, generator: torch.Generator) -> nn.Module:
    """Build ``spec`` on ``device`` with every parameter drawn from ``generator``.

    The module is created on the meta device, so the global RNG is never touched;
    values are drawn on the CPU and copied, so they do not depend on the device.
    """
    with torch.device("meta"):
        model = spec.build()
    model = model.to_empty(device=device)
    initialised: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                fan_in = module.weight[0].numel()
                bound = math.sqrt(6.0 / fan_in)  # He-uniform, for ReLU networks
                weight = torch.empty(module.weight.shape, dtype=module.weight.dtype)
                weight.uniform_(-bound, bound, generator=generator)
                module.weight.copy_(weight)
                initialised.add(id(module.weight))
                if module.bias is not None:
                    module.bias.zero_()
                    initialised.add(id(module.bias))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()  # weight 1, bias 0, running statistics reset
                initialised.update(id(t) for t in module.parameters(recurse=False))
                initialised.update(id(t) for t in module.buffers(recurse=False))
    missed = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if id(t) not in initialised]
    if missed:
        raise ValueError(f"benchmark model {spec.name!r} has tensors the initialiser does not cover: {missed}")
    return model


# ------------------------------------------------------------ reference loop SAM


class LoopSAM(torch.optim.Optimizer):
    """SAM written the straightforward way, as a yardstick for ``pipeline.optim.SAM``.

    It has the shape of the widely used reference implementation (``davda54/sam``):
    one Python loop iteration per parameter, per-tensor gradient norms stacked into
    the global norm, a clone of every parameter kept in the optimizer state, the
    restore done by rebinding ``p.data``, then the base optimizer's step. BatchNorm
    is handled as that reference's training script does, by walking the model and
    setting every BatchNorm momentum to 0 around the second pass. It follows the
    project's closure protocol (the first pass runs inside ``step``) so that it can
    be timed exactly like our optimizers.
    """

    def __init__(self, base: torch.optim.Optimizer, model: nn.Module, rho: float = 0.05) -> None:
        if rho <= 0.0:
            raise ValueError(f"rho must be positive, got {rho}")
        self.base = base
        self.model = model
        super().__init__(base.param_groups, {"rho": rho})
        self.param_groups = base.param_groups  # shared: lr schedules reach both

    @staticmethod
    def _bn_momentum_off(module: nn.Module) -> None:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.loop_sam_saved_momentum = module.momentum
            module.momentum = 0.0

    @staticmethod
    def _bn_momentum_on(module: nn.Module) -> None:
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and hasattr(module, "loop_sam_saved_momentum"):
            module.momentum = module.loop_sam_saved_momentum

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        with torch.enable_grad():
            loss = closure()

        per_tensor = [p.grad.norm(p=2) for group in self.param_groups for p in group["params"] if p.grad is not None]
        grad_norm = torch.norm(torch.stack(per_tensor), p=2)
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["saved"] = p.data.clone()
                p.add_(p.grad * scale.to(p))

        self.model.apply(self._bn_momentum_off)
        try:
            with torch.enable_grad():
                closure()
        finally:
            self.model.apply(self._bn_momentum_on)
            for group in self.param_groups:
                for p in group["params"]:
                    if "saved" in self.state[p]:
                        p.data = self.state[p]["saved"]

        self.base.step()
        return loss


# ----------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """One measured optimizer configuration (one table row per model)."""

    label: str
    registry_name: str | None  # None: the benchmark's LoopSAM
    kind: str
    steps_per_epoch: int = ONE_LONG_EPOCH  # 1 for XSAM's search steps: every step starts an epoch


def _variants(names: Sequence[str]) -> list[Variant]:
    variants: list[Variant] = []
    for name in names:
        variants.append(Variant(name, name, KIND_BASELINE if name == "sgd" else KIND_ORDINARY))
        if name == "xsam":
            variants.append(Variant(XSAM_SEARCH_LABEL, "xsam", KIND_SEARCH, steps_per_epoch=1))
    if "sam" in names:
        variants.append(Variant(LOOP_SAM_LABEL, None, KIND_REFERENCE))
    return variants


def _passes(variant: Variant) -> float:
    if variant.registry_name is None:
        return 2.0
    return float(passes_per_step(variant.registry_name))


def _forward_probes(variant: Variant) -> int:
    return len(DEFAULT_ALPHA_GRID) if variant.kind == KIND_SEARCH else 0


@dataclass
class _Instance:
    variant: Variant
    step: Callable[[], torch.Tensor]
    last_loss: torch.Tensor | None = None
    times_s: list[float] = dataclasses.field(default_factory=list)


def _make_instance(
    variant: Variant,
    base_model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    val_batch: tuple[torch.Tensor, torch.Tensor],
    device: torch.device,
    seed: int,
) -> _Instance:
    model = copy.deepcopy(base_model)
    model.train()
    if variant.registry_name is None:
        base = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        optimizer: torch.optim.Optimizer = LoopSAM(base, model)
    else:
        generator = torch.Generator(device=device).manual_seed(seed)
        hparams = trainer_hyperparameters(
            variant.registry_name, steps_per_epoch=variant.steps_per_epoch, generator=generator
        )
        optimizer = create_optimizer(
            variant.registry_name,
            model.parameters(),
            lr=LR,
            momentum=MOMENTUM,
            weight_decay=WEIGHT_DECAY,
            **hparams,
        )
        bn_update_once_per_step(optimizer, model)

    def closure_on(x: torch.Tensor, y: torch.Tensor) -> Callable[[], torch.Tensor]:
        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            if torch.is_grad_enabled():
                loss.backward()
            return loss

        return closure

    closure = closure_on(*batch)
    if isinstance(optimizer, LETS):
        val_closure = closure_on(*val_batch)

        def step() -> torch.Tensor:
            return optimizer.step(closure, val_closure)

    else:

        def step() -> torch.Tensor:
            return optimizer.step(closure)

    return _Instance(variant, step)


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class OverheadRow:
    """One optimizer on one model. Times are medians over the timed steps, in ms."""

    model: str
    optimizer: str  # the row label: a registry name, "xsam [search step]" or the loop SAM
    registry_name: str | None  # None for the benchmark's loop SAM
    kind: str  # "baseline" (sgd), "ordinary", "search" (XSAM search steps), "reference" (loop SAM)
    passes: float  # forward+backward passes per step
    forward_probes: int  # forward-only passes per step not counted in `passes` (XSAM search)
    step_ms: float
    step_ms_q1: float
    step_ms_q3: float
    sgd_ms: float
    ratio: float  # step_ms / sgd_ms
    ratio_per_pass: float  # ratio / passes
    target_applies: bool
    meets_target: bool | None  # ratio_per_pass <= TARGET_RATIO_PER_PASS, None where it does not apply
    final_loss: float  # training loss returned by the last step (a sanity check: finite)
    n_steps: int


@dataclass(frozen=True)
class LoopSamComparison:
    """Our SAM against the per-parameter-loop SAM on one model."""

    model: str
    n_param_tensors: int
    sam_ms: float
    loop_sam_ms: float
    speedup: float  # loop_sam_ms / sam_ms; above 1 means ours is faster


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    n_params: int
    n_param_tensors: int
    batch_size: int
    sgd_ms: float
    sgd_relative_iqr: float  # (q3 - q1) / median of SGD's step time: the timing noise on this model
    gaussian_draw_ms: float  # one N(0, I) draw over all parameters, as MP-SAM makes it (median)


@dataclass(frozen=True)
class BenchMeta:
    device: str
    torch_version: str
    python_version: str
    num_threads: int
    quick: bool
    steps: int
    warmup: int
    seed: int
    wall_s: float


@dataclass(frozen=True)
class OverheadResult:
    meta: BenchMeta
    models: list[ModelInfo]
    rows: list[OverheadRow]
    loop_sam: list[LoopSamComparison]

    def to_json_dict(self) -> dict[str, object]:
        return finite_or_none(
            {
                "target_ratio_per_pass": TARGET_RATIO_PER_PASS,
                "meta": dataclasses.asdict(self.meta),
                "models": [dataclasses.asdict(m) for m in self.models],
                "rows": [dataclasses.asdict(r) for r in self.rows],
                "loop_sam": [dataclasses.asdict(c) for c in self.loop_sam],
            }
        )  # type: ignore[return-value]


# ------------------------------------------------------------------------ running


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _synchroniser(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _run_model(
    spec: BenchModel,
    device: torch.device,
    steps: int,
    warmup: int,
    seed: int,
    log: Callable[[str], None],
) -> tuple[ModelInfo, list[OverheadRow], LoopSamComparison | None]:
    init_gen = torch.Generator().manual_seed(seed)
    data_gen = torch.Generator().manual_seed(seed + 1)
    base_model = _build_model(spec, device, init_gen)

    def draw_batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn((spec.batch_size, *spec.input_shape), generator=data_gen)
        y = torch.randint(0, spec.n_classes, (spec.batch_size,), generator=data_gen)
        return x.to(device), y.to(device)

    batch = draw_batch()
    val_batch = draw_batch()  # LETS's validation batch: same size, so its pass costs a full pass

    variants = _variants(list_optimizers())
    if not any(v.registry_name == "sgd" for v in variants):
        raise RuntimeError("the optimizer registry has no 'sgd'; the benchmark needs it as the baseline")
    instances = [
        _make_instance(v, base_model, batch, val_batch, device, seed + 2 + i) for i, v in enumerate(variants)
    ]
    sync = _synchroniser(device)

    def run_rounds(n_rounds: int, record: bool) -> None:
        for r in range(n_rounds):
            shift = r % len(instances)
            for inst in instances[shift:] + instances[:shift]:
                sync()
                start = time.perf_counter()
                loss = inst.step()
                sync()
                elapsed = time.perf_counter() - start
                inst.last_loss = loss
                if record:
                    inst.times_s.append(elapsed)
            gc.collect()

    log(f"[bench] {spec.name}: {len(instances)} optimizers, {warmup} warm-up + {steps} timed rounds on {device}")
    model_started = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        run_rounds(warmup, record=False)
        run_rounds(steps, record=True)
    finally:
        if gc_was_enabled:
            gc.enable()
    log(f"[bench] {spec.name}: done in {time.perf_counter() - model_started:.1f} s")

    medians: dict[str, float] = {}
    quartiles: dict[str, tuple[float, float, float]] = {}
    for inst in instances:
        q = tuple(1e3 * t for t in _quartiles(inst.times_s))
        quartiles[inst.variant.label] = q  # type: ignore[assignment]
        medians[inst.variant.label] = q[1]
    sgd_ms = medians["sgd"]

    rows: list[OverheadRow] = []
    for inst in instances:
        v = inst.variant
        q1, med, q3 = quartiles[v.label]
        passes = _passes(v)
        ratio = med / sgd_ms
        per_pass = ratio / passes
        applies = v.kind in (KIND_BASELINE, KIND_ORDINARY)
        final_loss = float(inst.last_loss.detach().float().cpu()) if inst.last_loss is not None else math.nan
        rows.append(
            OverheadRow(
                model=spec.name,
                optimizer=v.label,
                registry_name=v.registry_name,
                kind=v.kind,
                passes=passes,
                forward_probes=_forward_probes(v),
                step_ms=med,
                step_ms_q1=q1,
                step_ms_q3=q3,
                sgd_ms=sgd_ms,
                ratio=ratio,
                ratio_per_pass=per_pass,
                target_applies=applies,
                meets_target=(per_pass <= TARGET_RATIO_PER_PASS) if applies else None,
                final_loss=final_loss,
                n_steps=len(inst.times_s),
            )
        )

    comparison = None
    if "sam" in medians and LOOP_SAM_LABEL in medians:
        comparison = LoopSamComparison(
            model=spec.name,
            n_param_tensors=len(list(base_model.parameters())),
            sam_ms=medians["sam"],
            loop_sam_ms=medians[LOOP_SAM_LABEL],
            speedup=medians[LOOP_SAM_LABEL] / medians["sam"],
        )
    info = ModelInfo(
        name=spec.name,
        description=spec.description,
        n_params=sum(p.numel() for p in base_model.parameters()),
        n_param_tensors=len(list(base_model.parameters())),
        batch_size=spec.batch_size,
        sgd_ms=sgd_ms,
        sgd_relative_iqr=(quartiles["sgd"][2] - quartiles["sgd"][0]) / sgd_ms,
        gaussian_draw_ms=_gaussian_draw_ms(base_model, device, sync),
    )
    del base_model  # the instances go when this function returns
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return info, rows, comparison


def _gaussian_draw_ms(model: nn.Module, device: torch.device, sync: Callable[[], None], repeats: int = 15) -> float:
    """Median time of one fresh ``z ~ N(0, I)`` over all parameters, drawn per tensor as MP-SAM draws it.

    MP-SAM's rule needs such a draw for every random or structured perturbation (4 per step for the
    default ``mixed`` with n = 5): a cost of the rule itself, reported so the overhead can be split.
    """
    gen = torch.Generator(device=device).manual_seed(0)
    params = list(model.parameters())
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for p in params:
            torch.randn(p.shape, generator=gen, dtype=p.dtype, device=device)
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _mpsam_draws_per_step() -> int:
    """Gaussian draws per step of the registry's default MP-SAM (mixed: every position but the first)."""
    return passes_per_step("mpsam") - 2


def run_overhead_benchmark(
    models: Sequence[str] | None = None,
    *,
    device: str | torch.device | None = None,
    quick: bool = False,
    steps: int | None = None,
    warmup: int | None = None,
    seed: int = 0,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> OverheadResult:
    """Time one step of every registered optimizer against SGD on each model.

    Args:
        models: names from :func:`bench_models` (default: all, in their order).
        device: default cuda when available, else cpu.
        quick: tiny models and few steps, for smoke tests.
        steps: timed rounds (one step of every optimizer per round); default 40, quick 3.
        warmup: untimed rounds first; default 5, quick 1.
        seed: seeds the model initialisation, the data and MPSAM's generators.
        threads: torch intra-op CPU threads for the run (restored afterwards); default: leave as set.
        log: receives progress lines (default: silent).
    """
    started = time.perf_counter()
    specs = bench_models(quick)
    names = list(specs) if models is None else list(models)
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ValueError(f"unknown benchmark model(s) {unknown}; choose from {list(specs)}")
    if not names:
        raise ValueError("no benchmark models selected")
    steps = (3 if quick else 40) if steps is None else steps
    warmup = (1 if quick else 5) if warmup is None else warmup
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    dev = default_device() if device is None else torch.device(device)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    log = log or (lambda _line: None)

    infos: list[ModelInfo] = []
    rows: list[OverheadRow] = []
    comparisons: list[LoopSamComparison] = []
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        num_threads = torch.get_num_threads()
        for name in names:
            info, model_rows, comparison = _run_model(specs[name], dev, steps, warmup, seed, log)
            infos.append(info)
            rows.extend(model_rows)
            if comparison is not None:
                comparisons.append(comparison)
    finally:
        torch.set_num_threads(threads_before)

    meta = BenchMeta(
        device=str(dev) if dev.type != "cuda" else f"{dev} ({torch.cuda.get_device_name(dev)})",
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        num_threads=num_threads,
        quick=quick,
        steps=steps,
        warmup=warmup,
        seed=seed,
        wall_s=time.perf_counter() - started,
    )
    return OverheadResult(meta=meta, models=infos, rows=rows, loop_sam=comparisons)


# --------------------------------------------------------------------- formatting


def _target_cell(row: OverheadRow) -> str:
    if row.kind == KIND_SEARCH:
        return "n/a (search step)"
    if row.kind == KIND_REFERENCE:
        return "n/a (reference)"
    return "ok" if row.meets_target else "MISS"


def format_overhead_table(result: OverheadResult) -> str:
    """A plain-text (markdown) report of ``result``."""
    m = result.meta
    lines = [
        "# Optimizer overhead: one step vs plain SGD",
        "",
        f"Device {m.device}, torch {m.torch_version}, CPU threads: {m.num_threads}; median of {m.steps} timed steps "
        f"per optimizer after {m.warmup} warm-up steps, interleaved in rotated rounds"
        + (" (QUICK mode: tiny models, not a measurement)" if m.quick else "")
        + f"; wall time {m.wall_s:.1f} s.",
        f"ratio = step time / SGD step time; ratio/pass = ratio / passes (target <= {TARGET_RATIO_PER_PASS:.2f} "
        "except XSAM search steps).",
    ]
    by_model: dict[str, list[OverheadRow]] = {}
    for row in result.rows:
        by_model.setdefault(row.model, []).append(row)
    for info in result.models:
        lines += [
            "",
            f"## {info.name}: {info.description} ({info.n_params:,} parameters in {info.n_param_tensors} tensors); "
            f"SGD step {info.sgd_ms:.2f} ms",
            "",
            "| optimizer | passes | step ms (IQR) | ratio | ratio/pass | target |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for row in by_model.get(info.name, []):
            passes = f"{row.passes:g}" + (f" + {row.forward_probes} fwd" if row.forward_probes else "")
            lines.append(
                f"| {row.optimizer} | {passes} | {row.step_ms:.2f} ({row.step_ms_q1:.2f}-{row.step_ms_q3:.2f}) "
                f"| {row.ratio:.2f} | {row.ratio_per_pass:.3f} | {_target_cell(row)} |"
            )
    if result.loop_sam:
        lines += [
            "",
            "## Our SAM vs a per-parameter-loop SAM (reference shape)",
            "",
            "| model | param tensors | sam ms | loop sam ms | speed-up |",
            "|---|---:|---:|---:|---:|",
        ]
        for c in result.loop_sam:
            lines.append(
                f"| {c.model} | {c.n_param_tensors} | {c.sam_ms:.2f} | {c.loop_sam_ms:.2f} | {c.speedup:.2f}x |"
            )
    draws = _mpsam_draws_per_step()
    mpsam_rows = {r.model: r for r in result.rows if r.optimizer == "mpsam"}
    if mpsam_rows:
        lines += ["", f"## MP-SAM's Gaussian draws ({draws:g} fresh N(0, I) vectors per step with the default mixed, n = 5)", ""]
        lines += ["| model | one draw ms | draws' share of ratio/pass | mpsam ratio/pass without the draws |", "|---|---:|---:|---:|"]
        for info in result.models:
            row = mpsam_rows.get(info.name)
            if row is not None:
                share = draws * info.gaussian_draw_ms / (info.sgd_ms * row.passes)
                lines.append(
                    f"| {info.name} | {info.gaussian_draw_ms:.2f} | {share:.3f} | {row.ratio_per_pass - share:.3f} |"
                )
    in_target = [r for r in result.rows if r.target_applies]
    misses = [f"{r.model}/{r.optimizer} ({r.ratio_per_pass:.3f})" for r in in_target if not r.meets_target]
    lines += [
        "",
        f"Target ratio/pass <= {TARGET_RATIO_PER_PASS:.2f}: {len(in_target) - len(misses)} of {len(in_target)} rows met"
        + (f"; missed: {', '.join(misses)}." if misses else "."),
    ]
    noisy = [f"{i.name} ({100 * i.sgd_relative_iqr:.0f}%)" for i in result.models if i.sgd_relative_iqr > NOISY_RELATIVE_IQR]
    if noisy:
        lines.append(
            f"WARNING: noisy timings, SGD's interquartile range exceeds {100 * NOISY_RELATIVE_IQR:.0f}% of its median on: "
            f"{', '.join(noisy)}. Another process is probably competing for the CPU (on a shared machine, "
            "--threads 1 helps); re-run on a quiet machine before comparing with the target."
        )
    bad_loss = [f"{r.model}/{r.optimizer}" for r in result.rows if not math.isfinite(r.final_loss)]
    if bad_loss:
        lines.append(f"WARNING: non-finite training loss at the end of the run: {', '.join(bad_loss)}.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def _parse_models(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam-study bench optimizers",
        description="Time one step of every SAM-family optimizer against plain SGD.",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--quick", action="store_true", help="tiny models and few steps (smoke test)")
    parser.add_argument(
        "--models",
        type=_parse_models,
        default=None,
        help="comma-separated subset of: mlp, cnn, deep (default: all)",
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps per optimizer (default 40; quick 3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per optimizer (default 5; quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation and data (default 0)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    known = list(bench_models(args.quick))
    if args.models is not None and (not args.models or any(m not in known for m in args.models)):
        parser.error(f"--models takes a comma-separated subset of {', '.join(known)}; got {args.models}")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.warmup is not None and args.warmup < 0:
        parser.error(f"--warmup must be non-negative, got {args.warmup}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    result = run_overhead_benchmark(
        args.models,
        device=args.device,
        quick=args.quick,
        steps=args.steps,
        warmup=args.warmup,
        seed=args.seed,
        threads=args.threads,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_overhead_table(result), end="")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json_dict(), indent=2, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
