"""ASAM (Kwon et al., ICML 2021); reference code: davda54/sam with adaptive=True, SamsungLabs/ASAM."""

from __future__ import annotations

from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim.base import Closure, Displacement, SAMFamilyOptimizer, check_positive


class ASAM(SAMFamilyOptimizer):
    """Adaptive SAM: with ``T = |theta| + eta``, ``e = rho * T^2 g / (||T g|| + eps)``; the rest is SAM.

    With ``eta = 0`` this is davda54/sam's ``adaptive=True`` (T applied to every parameter). 2 passes.
    """

    def __init__(self, base: Optimizer, rho: float = 0.5, eta: float = 0.0, foreach: bool | None = None) -> None:
        check_positive("rho", rho)
        if not eta >= 0:
            raise ValueError(f"eta must be >= 0, got eta={eta!r}")
        super().__init__(base, {"rho": rho, "eta": eta}, foreach)
        self.rho = rho
        self.eta = eta

    def _compute_update(
        self, closure: Closure, loss: Tensor, params: list[Tensor], rho: Tensor | float
    ) -> Displacement:
        grads = [p.grad for p in params]
        e = self.ascent_perturbation(params, grads, rho, adaptive=True, eta=self.eta)
        self.two_pass_update(closure, params, e)
        return lambda: e
