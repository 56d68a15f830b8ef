"""A SAM-family rule of one's own (see docs/tasks.md): SAM with the sign of the gradient as its ascent direction.

own_task.yaml registers it as ``signsam`` (``rule: "sign_sam:SignSAM"``), which makes ``lets-signsam`` available
too. The rule gets the clean gradients in ``.grad``, and must leave the parameters clean bit for bit with the
gradient of its update in ``.grad``; ``two_pass_update`` does both.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim import SAMFamilyOptimizer


class SignSAM(SAMFamilyOptimizer):
    """Sign-SAM: the pass at ``theta + rho * sign(g) / ||sign(g)||``, then the base step with the gradient there."""

    passes_per_step = 2  # the clean pass and the perturbed one

    def __init__(self, base: Optimizer, rho: float = 0.05, foreach: bool | None = None) -> None:
        if not rho > 0:
            raise ValueError(f"rho must be > 0, got rho={rho}")
        super().__init__(base, {"rho": rho}, foreach)
        self.rho = rho

    def _compute_update(self, closure: Callable[[], Tensor], loss: Tensor, params: list[Tensor], rho: Tensor | float):
        signs = [p.grad.sign() for p in params]
        e = self.ascent_perturbation(params, signs, rho, adaptive=False)  # rho * d / ||d||
        self.two_pass_update(closure, params, e)  # the pass at theta + e, the exact restore, g~ in .grad
        return lambda: e
