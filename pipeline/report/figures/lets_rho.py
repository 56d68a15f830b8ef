"""Figure 5, ``lets_rho.png``: one panel per LETS method, the learned ρ over training, one line per seed."""

from __future__ import annotations

from pipeline.optim import learns_rho
from pipeline.report.figures.axes import panel_grid
from pipeline.report.figures.skip import Skip
from pipeline.report.stats_record import StudyAnalysis


def lets_rho_figure(analysis: StudyAnalysis):
    if not analysis.lets_trajectories:
        has_lets = any(learns_rho(c.optimizer) for c in analysis.costs)
        raise Skip("no LETS run finished with a ρ trajectory" if has_lets else "no LETS method in the study")
    methods = []
    for tr in analysis.lets_trajectories:
        if tr.method not in methods:
            methods.append(tr.method)
    order = {m: i for i, m in enumerate(analysis.methods)}
    methods.sort(key=lambda m: order.get(m, len(order)))
    fig, axes, _ = panel_grid(len(methods), 3.8, 2.8, sharey=False)
    for ax, method in zip(axes, methods, strict=True):
        for tr in sorted((t for t in analysis.lets_trajectories if t.method == method), key=lambda t: t.seed):
            ax.plot(range(len(tr.rho)), tr.rho, lw=1.4, label=f"seed {tr.seed}")
        ax.set_title(method, fontweight="bold" if method == analysis.reference else "normal")
        ax.set_xlabel("epoch")
        ax.set_ylabel("ρ")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="best")
    # no shared y: the radii of LETS around different inner optimizers (ASAM's ρ is ~10x SAM's) differ a lot
    fig.suptitle("LETS: ρ over training")
    caption = (
        "One panel per LETS method, one line per evaluation seed: the perturbation radius ρ at the start "
        "(epoch 0) and after every epoch of training."
    )
    return fig, "LETS ρ over training", caption
