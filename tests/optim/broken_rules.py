"""Rules that each break one clause of the SAM family's contract, for the conformance kit to catch."""

from __future__ import annotations

from pipeline.optim.sam import SAM


class NeverRestores(SAM):
    """Takes the base step from the perturbed point: the weights are never restored."""

    passes_per_step = 2

    def _compute_update(self, closure, loss, params, rho):
        e = self.ascent_perturbation(params, [p.grad for p in params], rho, adaptive=False)
        for p, step in zip(params, e, strict=True):
            p.add_(step)
        self.extra_pass(closure)
        return lambda: e


class UnderDeclared(SAM):
    """Runs SAM's two passes per step but declares one."""

    passes_per_step = 1


class BatchNormTwice(SAM):
    """Calls the closure directly for the perturbed pass, outside ``extra_pass``: BatchNorm moves twice per step."""

    passes_per_step = 2

    def _compute_update(self, closure, loss, params, rho):
        e = self.ascent_perturbation(params, [p.grad for p in params], rho, adaptive=False)
        clean = [p.detach().clone() for p in params]
        for p, step in zip(params, e, strict=True):
            p.add_(step)
        import torch

        with torch.enable_grad():
            closure()
        for p, c in zip(params, clean, strict=True):
            p.copy_(c)
        return lambda: e


class NotARule:
    """Not a SAMFamilyOptimizer at all."""

    passes_per_step = 2
