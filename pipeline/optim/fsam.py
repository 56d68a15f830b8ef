"""F-SAM, Friendly SAM (Li et al., CVPR 2024); reference code: nblt/F-SAM, utils.py, class FriendlySAM."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim import _tensor_ops as ops
from pipeline.optim.base import Closure, Displacement, SAMFamilyOptimizer, check_positive, check_unit_interval

EMA_KEY = "grad_ema"


class FSAM(SAMFamilyOptimizer):
    """Friendly SAM: perturb along ``d = g - sigma * m``, where ``m`` is an EMA of minibatch gradients.

    On a parameter's first step ``d = g`` and ``m <- g``; afterwards ``d`` uses the previous ``m`` and then
    ``m <- lmbda * m + (1 - lmbda) * g`` with the raw ``g`` (the reference code's order). ``sigma`` is the
    subtraction coefficient and ``lmbda`` the EMA decay, as named in the reference code. ``adaptive``
    scales ``d`` as ASAM does (``eta = 0``). 2 passes per step.
    """

    def __init__(
        self,
        base: Optimizer,
        rho: float = 0.05,
        sigma: float = 1.0,
        lmbda: float = 0.9,
        adaptive: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_positive("rho", rho)
        check_unit_interval("sigma", sigma)
        check_unit_interval("lmbda", lmbda)
        super().__init__(base, {"rho": rho, "sigma": sigma, "lmbda": lmbda, "adaptive": adaptive}, foreach)
        self.rho = rho
        self.sigma = sigma
        self.lmbda = lmbda
        self.adaptive = adaptive

    def _compute_update(
        self, closure: Closure, loss: Tensor, params: list[Tensor], rho: Tensor | float
    ) -> Displacement:
        d = self._direction_and_update_ema(params)
        e = self.ascent_perturbation(params, d, rho, adaptive=self.adaptive)
        self.two_pass_update(closure, params, e)
        return lambda: e

    def _direction_and_update_ema(self, params: list[Tensor]) -> list[Tensor]:
        seen = [p for p in params if EMA_KEY in self.state[p]]
        emas = [self.state[p][EMA_KEY] for p in seen]
        seen_grads = [p.grad for p in seen]
        if self.foreach and seen:
            seen_d = list(torch._foreach_add(seen_grads, emas, alpha=-self.sigma))
        else:
            seen_d = [g - self.sigma * m for g, m in zip(seen_grads, emas, strict=False)]
        ops.scale_(emas, self.lmbda, self.foreach)
        ops.add_(emas, seen_grads, self.foreach, alpha=1.0 - self.lmbda)

        d_of = dict(zip(seen, seen_d, strict=False))
        d = []
        for p in params:
            if p in d_of:
                d.append(d_of[p])
            else:  # first step for this parameter
                self.state[p][EMA_KEY] = p.grad.detach().clone()
                d.append(p.grad)
        return d
