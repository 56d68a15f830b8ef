"""XSAM, explicit SAM (Chen and Zhou, ICLR 2026); reference code: Cccjl219/XSAM, utils/xsam.py with train.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim import _tensor_ops as ops
from pipeline.optim.base import Closure, Displacement, SAMFamilyOptimizer, check_positive

DEFAULT_ALPHA_GRID = tuple(i / 10 for i in range(21))  # {0, 0.1, ..., 2.0}
SMALL_SIN = 1e-8


class XSAM(SAMFamilyOptimizer):
    """Explicit SAM: ``k`` normalised ascent steps of total length ``rho``, then the update direction is
    searched on the arc between the ascent direction ``v0`` and the gradient there ``v1``.

    ``s(alpha) = [sin((1-alpha) t) v0 + sin(alpha t) v1] / sin t`` with ``t`` the angle between them
    (``(v0 + v1)/2`` when ``sin t < 1e-8``); the update gradient is ``||g_k|| s(alpha*)``. When ``dynamic``,
    ``alpha*`` is re-chosen on the first step and every ``search_every`` steps as the first maximiser over
    ``alpha_grid`` of the loss at ``theta + rho_max s(alpha)`` (forward only); the trainer sets
    ``search_every`` to the steps per epoch. ``rho_max=None`` means ``2 rho``. The angle uses
    ``arccos(clamp(<v0, v1>, -1, 1))``: the clamp fixes a NaN the reference can produce.
    ``steps + 1`` passes per step, plus ``len(alpha_grid)`` forward-only probes on search steps.
    ``alpha*`` stays on the device: choosing it needs no host sync.
    """

    # ||g_k|| s(alpha) is no gradient at theta + rho d_hat, so (g~ - g)/rho is no Hessian-vector product.
    update_is_perturbed_gradient = False

    def __init__(
        self,
        base: Optimizer,
        rho: float = 0.15,
        rho_max: float | None = None,
        steps: int = 1,
        dynamic: bool = True,
        alpha: float = 1.0,
        alpha_grid: Sequence[float] | None = None,
        search_every: int = 1,
        foreach: bool | None = None,
    ) -> None:
        check_positive("rho", rho)
        if rho_max is not None:
            check_positive("rho_max", rho_max)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got steps={steps!r}")
        if isinstance(search_every, bool) or not isinstance(search_every, int) or search_every < 1:
            raise ValueError(f"search_every must be an integer >= 1, got search_every={search_every!r}")
        grid = tuple(float(a) for a in (DEFAULT_ALPHA_GRID if alpha_grid is None else alpha_grid))
        if not grid:
            raise ValueError("alpha_grid must hold at least one value, got an empty grid")
        settings = {"rho": rho, "rho_max": rho_max, "steps": steps, "dynamic": dynamic, "alpha": alpha}
        super().__init__(base, {**settings, "search_every": search_every}, foreach)
        self.rho = rho
        self.rho_max = rho_max
        self.steps = steps
        self.dynamic = dynamic
        self.alpha_grid = grid
        self.search_every = search_every
        device = self.all_params()[0].device
        self.alpha = torch.tensor(float(alpha), dtype=torch.float64, device=device)
        # Built once here: a host-to-device copy inside step would synchronise.
        self._grid = torch.tensor(grid, dtype=torch.float64, device=device)

    def _compute_update(
        self, closure: Closure, loss: Tensor, params: list[Tensor], rho: Tensor | float
    ) -> Displacement:
        rho_max = 2 * rho if self.rho_max is None else self.rho_max
        foreach = self.foreach
        clean = ops.clone(params, foreach)
        try:
            ascent, ascent_norm, g = self._ascend(closure, params, rho)
            # v0 = ascent / a and v1 = g / b are never built: only their scales enter.
            a = ascent_norm + ops.EPS
            g_norm = ops.global_norm(g, foreach)
            b = g_norm + ops.EPS
            angle = torch.arccos((ops.dot(ascent, g, foreach) / (a * b)).clamp(-1.0, 1.0))
            if self.dynamic and self.step_count % self.search_every == 0:
                self.alpha = self._search_alpha(closure, params, clean, ascent, g, a, b, angle, rho_max)
        finally:
            ops.copy_(params, clean, foreach)
        # g~ = ||g_k|| s(alpha*) = ||g_k|| (c0 v0 + c1 v1), built in place in g_k.
        c0, c1 = _arc_coefficients(angle, self.alpha)
        ops.scale_(g, g_norm * c1 / b, foreach)
        ops.add_(g, ops.scale(ascent, g_norm * c0 / a, foreach), foreach)
        if self.perturbs_locally:  # each worker's own XSAM gradient: the update is their mean
            self.mean_over_workers_(g)
        for p, u in zip(params, g, strict=False):
            p.grad = u
        return lambda: ascent

    def _ascend(
        self, closure: Closure, params: list[Tensor], rho: Tensor | float
    ) -> tuple[list[Tensor], Tensor, list[Tensor]]:
        """``k`` normalised ascent steps of length ``rho / k`` from the clean point, leaving the parameters at
        ``theta_k``. Returns ``theta_k - theta_0`` (summed from the steps: exact up to rounding), its norm and
        ``g_k``, the gradient at ``theta_k``."""
        k, foreach = self.steps, self.foreach
        g = [p.grad for p in params]
        ascent: list[Tensor] | None = None
        for _ in range(k):
            g_norm = ops.global_norm(g, foreach)
            scale = (rho / k) / (g_norm + ops.EPS)
            step = ops.scale(g, scale, foreach)
            ops.add_(params, step, foreach)
            if ascent is None:
                ascent = step
            else:
                ops.add_(ascent, step, foreach)
            self.extra_pass(closure, sync="global")
            g = ops.grads_or_zeros(params)
        assert ascent is not None
        # With one ascent step its norm is known, scale * ||g_0||: one sweep over the parameters saved.
        ascent_norm = scale * g_norm if k == 1 else ops.global_norm(ascent, foreach)
        return ascent, ascent_norm, g

    def _search_alpha(
        self,
        closure: Closure,
        params: list[Tensor],
        clean: list[Tensor],
        ascent: list[Tensor],
        g: list[Tensor],
        a: Tensor,
        b: Tensor,
        angle: Tensor,
        rho_max: float | Tensor,
    ) -> Tensor:
        """The first alpha of the grid that maximises the loss at ``theta_0 + rho_max s(alpha)``."""
        c0, c1 = _arc_coefficients(angle, self._grid)
        c0, c1 = c0 * (rho_max / a), c1 * (rho_max / b)
        losses = []
        for j in range(len(self._grid)):
            ops.copy_(params, clean, self.foreach)
            ops.add_(params, ops.scale(ascent, c0[j], self.foreach), self.foreach)
            ops.add_(params, ops.scale(g, c1[j], self.foreach), self.foreach)
            losses.append(self.extra_pass(closure, grad=False).detach().reshape(()))
        # argmax returns the first maximiser, as the rule asks.
        return self._grid[torch.argmax(self.global_mean(torch.stack(losses)))]

    def _extra_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def _load_extra_state(self, own: dict[str, Any]) -> None:
        self.alpha = own["alpha"].detach().to(self.alpha.device, torch.float64).clone()


def _arc_coefficients(angle: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    """Coefficients of ``v0`` and ``v1`` in ``s(alpha)``; ``alpha`` may be a grid (a 1-D tensor)."""
    sin = torch.sin(angle)
    degenerate = sin < SMALL_SIN
    c0 = torch.where(degenerate, 0.5, torch.sin((1 - alpha) * angle) / sin)
    c1 = torch.where(degenerate, 0.5, torch.sin(alpha * angle) / sin)
    return c0, c1
