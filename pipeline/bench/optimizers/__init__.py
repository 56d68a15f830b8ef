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

Modules, one concern each: ``models`` (the model zoo), ``reference_sam`` (the loop SAM),
``matrix`` (which configurations are measured, built ready to step), ``timing`` (the harness),
``results`` (what is reported), ``markdown`` (the report), ``cli`` (the command line).

Run: ``sam-study bench optimizers`` or ``python -m pipeline.bench.optimizers``.
"""

from __future__ import annotations

from pipeline.bench.optimizers.cli import build_parser, main
from pipeline.bench.optimizers.markdown import format_overhead_table
from pipeline.bench.optimizers.matrix import KIND_REFERENCE, KIND_SEARCH, LOOP_SAM_LABEL, XSAM_SEARCH_LABEL
from pipeline.bench.optimizers.models import BenchModel, bench_models, build_model
from pipeline.bench.optimizers.reference_sam import LoopSAM
from pipeline.bench.optimizers.results import (
    NOISY_RELATIVE_IQR,
    TARGET_RATIO_PER_PASS,
    BenchMeta,
    LoopSamComparison,
    ModelInfo,
    OverheadResult,
    OverheadRow,
)
from pipeline.bench.optimizers.timing import default_device, run_overhead_benchmark

__all__ = [
    "KIND_REFERENCE",
    "KIND_SEARCH",
    "LOOP_SAM_LABEL",
    "NOISY_RELATIVE_IQR",
    "TARGET_RATIO_PER_PASS",
    "XSAM_SEARCH_LABEL",
    "BenchMeta",
    "BenchModel",
    "LoopSAM",
    "LoopSamComparison",
    "ModelInfo",
    "OverheadResult",
    "OverheadRow",
    "bench_models",
    "build_model",
    "build_parser",
    "default_device",
    "format_overhead_table",
    "main",
    "run_overhead_benchmark",
]
