"""What the benchmark reports: one row per optimizer and model, per-model facts, the run's metadata."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pipeline._io import finite_or_none

TARGET_RATIO_PER_PASS = 1.10
"""Upper bound on ``ratio / passes`` that every optimizer except XSAM's search steps must meet."""

NOISY_RELATIVE_IQR = 0.10
"""Above this spread of SGD's step times (interquartile range / median) a model's results are flagged as noisy."""


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
