"""The timing harness: every optimizer of the matrix on its own copy of one seeded model and fixed batch,
stepped in rotated rounds, timed from a synchronised device to a synchronised device."""

from __future__ import annotations

import gc
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from pipeline.bench.optimizers.matrix import (
    KIND_BASELINE,
    KIND_ORDINARY,
    LOOP_SAM_LABEL,
    Batch,
    Instance,
    forward_probes,
    make_instance,
    passes,
    variants,
)
from pipeline.bench.optimizers.models import BenchModel, bench_models, build_model
from pipeline.bench.optimizers.results import (
    TARGET_RATIO_PER_PASS,
    BenchMeta,
    LoopSamComparison,
    ModelInfo,
    OverheadResult,
    OverheadRow,
)
from pipeline.optim import list_optimizers

Quartiles = dict[str, tuple[float, float, float]]  # row label -> (q1, median, q3) of its step times, in ms


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


def run_model(
    spec: BenchModel,
    device: torch.device,
    steps: int,
    warmup: int,
    seed: int,
    log: Callable[[str], None],
) -> tuple[ModelInfo, list[OverheadRow], LoopSamComparison | None]:
    """Every optimizer of the matrix on ``spec``: the model's facts, its rows, our SAM against the loop SAM."""
    init_gen = torch.Generator().manual_seed(seed)
    data_gen = torch.Generator().manual_seed(seed + 1)
    base_model = build_model(spec, device, init_gen)
    batch = _draw_batch(spec, device, data_gen)
    val_batch = _draw_batch(spec, device, data_gen)  # LETS's validation batch: same size, so a full pass
    instances = _instances(base_model, batch, val_batch, device, seed)
    sync = _synchroniser(device)

    log(f"[bench] {spec.name}: {len(instances)} optimizers, {warmup} warm-up + {steps} timed rounds on {device}")
    model_started = time.perf_counter()
    _time_rounds(instances, warmup, steps, sync)
    log(f"[bench] {spec.name}: done in {time.perf_counter() - model_started:.1f} s")

    quartiles: Quartiles = {inst.variant.label: tuple(1e3 * t for t in _quartiles(inst.times_s)) for inst in instances}
    sgd_ms = quartiles["sgd"][1]
    rows = [_row(spec.name, inst, quartiles[inst.variant.label], sgd_ms) for inst in instances]
    comparison = _loop_sam_comparison(spec.name, base_model, quartiles)
    info = _model_info(spec, base_model, quartiles["sgd"], _gaussian_draw_ms(base_model, device, sync))
    del base_model, instances
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return info, rows, comparison


def _draw_batch(spec: BenchModel, device: torch.device, data_gen: torch.Generator) -> Batch:
    x = torch.randn((spec.batch_size, *spec.input_shape), generator=data_gen)
    y = torch.randint(0, spec.n_classes, (spec.batch_size,), generator=data_gen)
    return x.to(device), y.to(device)


def _instances(
    base_model: nn.Module, batch: Batch, val_batch: Batch, device: torch.device, seed: int
) -> list[Instance]:
    matrix = variants(list_optimizers())
    if not any(v.registry_name == "sgd" for v in matrix):
        raise RuntimeError("the optimizer registry has no 'sgd'; the benchmark needs it as the baseline")
    return [make_instance(v, base_model, batch, val_batch, device, seed + 2 + i) for i, v in enumerate(matrix)]


def _time_rounds(instances: list[Instance], warmup: int, steps: int, sync: Callable[[], None]) -> None:
    """Untimed then timed rounds, one step of every instance per round in an order rotated every round (so that
    drift of the machine falls on all alike). The garbage collector runs between rounds, never inside a step."""

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

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        run_rounds(warmup, record=False)
        run_rounds(steps, record=True)
    finally:
        if gc_was_enabled:
            gc.enable()


def _row(model: str, inst: Instance, quartiles: tuple[float, float, float], sgd_ms: float) -> OverheadRow:
    v = inst.variant
    q1, med, q3 = quartiles
    n_passes = passes(v)
    ratio = med / sgd_ms
    per_pass = ratio / n_passes
    applies = v.kind in (KIND_BASELINE, KIND_ORDINARY)
    final_loss = float(inst.last_loss.detach().float().cpu()) if inst.last_loss is not None else math.nan
    return OverheadRow(
        model=model,
        optimizer=v.label,
        registry_name=v.registry_name,
        kind=v.kind,
        passes=n_passes,
        forward_probes=forward_probes(v),
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


def _loop_sam_comparison(model: str, base_model: nn.Module, quartiles: Quartiles) -> LoopSamComparison | None:
    if "sam" not in quartiles or LOOP_SAM_LABEL not in quartiles:
        return None
    sam_ms, loop_sam_ms = quartiles["sam"][1], quartiles[LOOP_SAM_LABEL][1]
    return LoopSamComparison(
        model=model,
        n_param_tensors=len(list(base_model.parameters())),
        sam_ms=sam_ms,
        loop_sam_ms=loop_sam_ms,
        speedup=loop_sam_ms / sam_ms,
    )


def _model_info(
    spec: BenchModel, base_model: nn.Module, sgd: tuple[float, float, float], gaussian_draw_ms: float
) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        description=spec.description,
        n_params=sum(p.numel() for p in base_model.parameters()),
        n_param_tensors=len(list(base_model.parameters())),
        batch_size=spec.batch_size,
        sgd_ms=sgd[1],
        sgd_relative_iqr=(sgd[2] - sgd[0]) / sgd[1],
        gaussian_draw_ms=gaussian_draw_ms,
    )


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
    steps = (3 if quick else 40) if steps is None else steps
    warmup = (1 if quick else 5) if warmup is None else warmup
    _check_arguments(names, list(specs), steps, warmup, threads)
    dev = default_device() if device is None else torch.device(device)
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
            info, model_rows, comparison = run_model(specs[name], dev, steps, warmup, seed, log)
            infos.append(info)
            rows.extend(model_rows)
            if comparison is not None:
                comparisons.append(comparison)
    finally:
        torch.set_num_threads(threads_before)
    meta = _meta(dev, num_threads, quick, steps, warmup, seed, time.perf_counter() - started)
    return OverheadResult(meta=meta, models=infos, rows=rows, loop_sam=comparisons)


def _check_arguments(names: list[str], known: list[str], steps: int, warmup: int, threads: int | None) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown benchmark model(s) {unknown}; choose from {known}")
    if not names:
        raise ValueError("no benchmark models selected")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")


def _meta(
    dev: torch.device, num_threads: int, quick: bool, steps: int, warmup: int, seed: int, wall_s: float
) -> BenchMeta:
    return BenchMeta(
        device=str(dev) if dev.type != "cuda" else f"{dev} ({torch.cuda.get_device_name(dev)})",
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        num_threads=num_threads,
        quick=quick,
        steps=steps,
        warmup=warmup,
        seed=seed,
        wall_s=wall_s,
    )
