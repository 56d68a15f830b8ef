"""A per-parameter-loop SAM in the shape of the widely used reference code (``davda54/sam``): the yardstick
the benchmark measures ``pipeline.optim.SAM`` against."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class LoopSAM(torch.optim.Optimizer):
    """SAM written the straightforward way, as a yardstick for ``pipeline.optim.SAM``.

    It has the shape of the widely used reference implementation (``davda54/sam``):
    one Python loop iteration per parameter, per-tensor gradient norms stacked into
    the global norm, a clone of every parameter kept in the optimizer state, the
    restore done by rebinding ``p.data``, then the base optimizer's step. BatchNorm
    is handled as that reference's training script does, by walking the model and
    setting every BatchNorm momentum to 0 around the second pass. It follows the
    project's closure protocol (the first pass runs inside ``step``) so that it can
    be timed exactly like our optimizers.
    """

    def __init__(self, base: torch.optim.Optimizer, model: nn.Module, rho: float = 0.05) -> None:
        if rho <= 0.0:
            raise ValueError(f"rho must be positive, got {rho}")
        self.base = base
        self.model = model
        super().__init__(base.param_groups, {"rho": rho})
        self.param_groups = base.param_groups  # shared: lr schedules reach both

    @staticmethod
    def _bn_momentum_off(module: nn.Module) -> None:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.loop_sam_saved_momentum = module.momentum
            module.momentum = 0.0

    @staticmethod
    def _bn_momentum_on(module: nn.Module) -> None:
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and hasattr(module, "loop_sam_saved_momentum"):
            module.momentum = module.loop_sam_saved_momentum

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        with torch.enable_grad():
            loss = closure()

        per_tensor = [p.grad.norm(p=2) for group in self.param_groups for p in group["params"] if p.grad is not None]
        grad_norm = torch.norm(torch.stack(per_tensor), p=2)
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["saved"] = p.data.clone()
                p.add_(p.grad * scale.to(p))

        self.model.apply(self._bn_momentum_off)
        try:
            with torch.enable_grad():
                closure()
        finally:
            self.model.apply(self._bn_momentum_on)
            for group in self.param_groups:
                for p in group["params"]:
                    if "saved" in self.state[p]:
                        p.data = self.state[p]["saved"]

        self.base.step()
        return loss
