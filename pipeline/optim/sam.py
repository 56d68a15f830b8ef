"""SAM (Foret et al., ICLR 2021); reference code: davda54/sam, sam.py."""

from __future__ import annotations

from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim.base import Closure, Displacement, SAMFamilyOptimizer, check_positive


class SAM(SAMFamilyOptimizer):
    """Sharpness-aware minimisation: ``e = rho * g / (||g|| + eps)``, update with ``grad L(theta + e)``.

    The norm is global over all parameter groups and stays on the device; the clean parameters are
    kept as one copy for the duration of the step only (never in ``state``), and restored with ``copy_``.
    2 passes per step.
    """

    def __init__(self, base: Optimizer, rho: float = 0.05, foreach: bool | None = None) -> None:
        check_positive("rho", rho)
        super().__init__(base, {"rho": rho}, foreach)
        self.rho = rho

    def _compute_update(
        self, closure: Closure, loss: Tensor, params: list[Tensor], rho: Tensor | float
    ) -> Displacement:
        grads = [p.grad for p in params]
        e = self.ascent_perturbation(params, grads, rho, adaptive=False)
        self.two_pass_update(closure, params, e)
        return lambda: e
