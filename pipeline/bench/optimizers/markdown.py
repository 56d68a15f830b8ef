"""The benchmark's report as markdown: one table per model, our SAM against the loop SAM, MP-SAM's Gaussian
draws, and the target's verdict with any warnings."""

from __future__ import annotations

import math

from pipeline.bench.optimizers.matrix import KIND_RECIPE, KIND_REFERENCE, KIND_SEARCH
from pipeline.bench.optimizers.results import NOISY_RELATIVE_IQR, TARGET_RATIO_PER_PASS, OverheadResult, OverheadRow
from pipeline.optim import passes_per_step


def format_overhead_table(result: OverheadResult) -> str:
    """A plain-text (markdown) report of ``result``."""
    lines = _header(result)
    lines += _model_tables(result)
    lines += _loop_sam_table(result)
    lines += _mpsam_draws_table(result)
    lines += _verdict(result)
    return "\n".join(lines) + "\n"


def _header(result: OverheadResult) -> list[str]:
    m = result.meta
    return [
        "# Optimizer overhead: one step vs plain SGD",
        "",
        (
            f"Device {m.device}, torch {m.torch_version}, CPU threads: {m.num_threads}; median of {m.steps} timed "
            f"steps per optimizer after {m.warmup} warm-up steps, interleaved in rotated rounds"
            + (" (QUICK mode: tiny models, not a measurement)" if m.quick else "")
            + f"; wall time {m.wall_s:.1f} s."
        ),
        (
            f"ratio = step time / SGD step time; ratio/pass = ratio / passes (target <= {TARGET_RATIO_PER_PASS:.2f} "
            "except XSAM search steps)."
        ),
    ]


def _target_cell(row: OverheadRow) -> str:
    if row.kind == KIND_SEARCH:
        return "n/a (search step)"
    if row.kind == KIND_REFERENCE:
        return "n/a (reference)"
    if row.kind == KIND_RECIPE:
        return "n/a (training recipe)"
    return "ok" if row.meets_target else "MISS"


def _model_tables(result: OverheadResult) -> list[str]:
    by_model: dict[str, list[OverheadRow]] = {}
    for row in result.rows:
        by_model.setdefault(row.model, []).append(row)
    lines: list[str] = []
    for info in result.models:
        lines += [
            "",
            (
                f"## {info.name}: {info.description} ({info.n_params:,} parameters in {info.n_param_tensors} "
                f"tensors); SGD step {info.sgd_ms:.2f} ms"
            ),
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
    return lines


def _loop_sam_table(result: OverheadResult) -> list[str]:
    if not result.loop_sam:
        return []
    lines = [
        "",
        "## Our SAM vs a per-parameter-loop SAM (reference shape)",
        "",
        "| model | param tensors | sam ms | loop sam ms | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in result.loop_sam:
        lines.append(f"| {c.model} | {c.n_param_tensors} | {c.sam_ms:.2f} | {c.loop_sam_ms:.2f} | {c.speedup:.2f}x |")
    return lines


def mpsam_draws_per_step() -> float:
    """Gaussian draws per step of the registry's default MP-SAM (mixed: every position but the first)."""
    return passes_per_step("mpsam") - 2


def _mpsam_draws_table(result: OverheadResult) -> list[str]:
    draws = mpsam_draws_per_step()
    mpsam_rows = {r.model: r for r in result.rows if r.optimizer == "mpsam"}
    if not mpsam_rows:
        return []
    lines = [
        "",
        f"## MP-SAM's Gaussian draws ({draws:g} fresh N(0, I) vectors per step with the default mixed, n = 5)",
        "",
        "| model | one draw ms | draws' share of ratio/pass | mpsam ratio/pass without the draws |",
        "|---|---:|---:|---:|",
    ]
    for info in result.models:
        row = mpsam_rows.get(info.name)
        if row is not None:
            share = draws * info.gaussian_draw_ms / (info.sgd_ms * row.passes)
            lines.append(
                f"| {info.name} | {info.gaussian_draw_ms:.2f} | {share:.3f} | {row.ratio_per_pass - share:.3f} |"
            )
    return lines


def _verdict(result: OverheadResult) -> list[str]:
    in_target = [r for r in result.rows if r.target_applies]
    misses = [f"{r.model}/{r.optimizer} ({r.ratio_per_pass:.3f})" for r in in_target if not r.meets_target]
    lines = [
        "",
        f"Target ratio/pass <= {TARGET_RATIO_PER_PASS:.2f}: {len(in_target) - len(misses)} of {len(in_target)} rows met"
        + (f"; missed: {', '.join(misses)}." if misses else "."),
    ]
    noisy = [
        f"{i.name} ({100 * i.sgd_relative_iqr:.0f}%)" for i in result.models if i.sgd_relative_iqr > NOISY_RELATIVE_IQR
    ]
    if noisy:
        lines.append(
            f"WARNING: noisy timings, SGD's interquartile range exceeds {100 * NOISY_RELATIVE_IQR:.0f}% of its median "
            f"on: {', '.join(noisy)}. Another process is probably competing for the CPU (on a shared machine, "
            "--threads 1 helps); re-run on a quiet machine before comparing with the target."
        )
    bad_loss = [f"{r.model}/{r.optimizer}" for r in result.rows if not math.isfinite(r.final_loss)]
    if bad_loss:
        lines.append(f"WARNING: non-finite training loss at the end of the run: {', '.join(bad_loss)}.")
    return lines
