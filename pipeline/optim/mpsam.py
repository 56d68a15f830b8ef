"""MP-SAM, multi-perturbation SAM; reference code: finite-sample/mpsam, notebook mp-sam.ipynb, cell 0."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim import _tensor_ops as ops
from pipeline.optim.base import Closure, Displacement, SAMFamilyOptimizer, check_positive, did_you_mean

STRATEGIES = ("gradient", "random", "mixed")


class _Passes(NamedTuple):
    """The perturbed passes of one step, summed: ``c_i = max(0, L_i - L_0)`` (adaptive only)."""

    grad_sum: list[Tensor]  # sum_i g_i
    weighted_grad_sum: list[Tensor] | None  # sum_i c_i g_i
    cs: list[Tensor]  # c_i
    c_total: Tensor  # sum_i c_i


class MPSAM(SAMFamilyOptimizer):
    """Averages the gradients taken at ``n`` perturbations of radius ``rho``. ``n + 1`` passes per step.

    Perturbations (all built before any is applied): ``eps_g = rho g/(||g|| + eps)``, ``eps_r = rho z/||z||``
    with fresh ``z ~ N(0, I)`` from ``generator``, and ``eps_s(s) = rho (eps_g + s eps_r)/||eps_g + s eps_r||``.
    ``gradient``: ``[eps_g, eps_s(0.1), ..., eps_s(0.1 (n-1))]``; ``random``: ``n`` draws of ``eps_r``;
    ``mixed``: ``eps_g`` first, then ``eps_r`` at odd and ``eps_s(0.1)`` at even positions.
    Weights are ``1/n``, or with ``adaptive`` ``max(0, L_i - L_0)`` normalised to sum 1, falling back to
    ``1/n`` when all are 0 (a deliberate deviation: the notebook's update would be zero there).

    Under LETS it reports ``sum_i w_i eps_i`` (``rho * d_hat``), the weighted mean of its perturbations with
    the update's weights, formed only when LETS asks for it.

    ``generator=None`` makes a private generator seeded once from the global RNG, so that the draws are
    reproducible and its state travels in ``state_dict``.
    """

    def __init__(
        self,
        base: Optimizer,
        rho: float = 0.05,
        n_perturbations: int = 5,
        strategy: str = "mixed",
        adaptive: bool = False,
        generator: torch.Generator | None = None,
        foreach: bool | None = None,
    ) -> None:
        check_positive("rho", rho)
        if isinstance(n_perturbations, bool) or not isinstance(n_perturbations, int) or n_perturbations < 1:
            raise ValueError(f"n_perturbations must be an integer >= 1, got n_perturbations={n_perturbations!r}")
        if strategy not in STRATEGIES:
            hint = did_you_mean(strategy, STRATEGIES)
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}{hint}")
        super().__init__(
            base, {"rho": rho, "n_perturbations": n_perturbations, "strategy": strategy, "adaptive": adaptive}, foreach
        )
        self.rho = rho
        self.n_perturbations = n_perturbations
        self.strategy = strategy
        self.adaptive = adaptive
        if generator is None:
            device = self.all_params()[0].device
            generator = torch.Generator(device=device)
            generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        self.generator = generator

    def _compute_update(
        self, closure: Closure, loss: Tensor, params: list[Tensor], rho: Tensor | float
    ) -> Displacement:
        grads = [p.grad for p in params]
        eps_g = self.ascent_perturbation(params, grads, rho, adaptive=False)
        perturbations = self._perturbations(params, eps_g, rho)
        # Data-parallel: the passes stay on each worker and the update is averaged once at the end (the update is
        # linear in the pass gradients once the weights are fixed); under global the weights use global losses.
        passes = self._perturbed_passes(closure, self.global_mean(loss.detach()), params, perturbations)
        update = self._weighted_mean(passes.grad_sum, passes.weighted_grad_sum, passes.c_total)
        self.mean_over_workers_(update)
        for p, u in zip(params, update, strict=False):
            p.grad = u
        return lambda: self._displacement(perturbations, passes)

    def _perturbed_passes(
        self, closure: Closure, clean_loss: Tensor, params: list[Tensor], perturbations: list[list[Tensor]]
    ) -> _Passes:
        """One pass at each ``theta + eps_i``: the sums of ``g_i`` and of ``c_i g_i``, ``c_i = max(0, L_i - L_0)``."""
        clean = ops.clone(params, self.foreach)
        grad_sum: list[Tensor] | None = None
        weighted_sum: list[Tensor] | None = None
        c_total = torch.zeros((), device=clean_loss.device, dtype=clean_loss.dtype)
        cs = []
        for e in perturbations:
            with self.perturbed(params, clean, e):
                loss_i = self.global_mean(self.extra_pass(closure, sync="never").detach())
                g_i = ops.grads_or_zeros(params)
            if self.adaptive:
                c_i = (loss_i - clean_loss).clamp_min(0)
                cs.append(c_i)
                c_total = c_total + c_i
                weighted = ops.scale(g_i, c_i, self.foreach)
                if weighted_sum is None:
                    weighted_sum = weighted
                else:
                    ops.add_(weighted_sum, weighted, self.foreach)
            # The first g_i starts the sum: it is no longer any parameter's .grad, so adding into it is safe.
            if grad_sum is None:
                grad_sum = g_i
            else:
                ops.add_(grad_sum, g_i, self.foreach)
        assert grad_sum is not None
        return _Passes(grad_sum, weighted_sum, cs, c_total)

    def _displacement(self, perturbations: list[list[Tensor]], passes: _Passes) -> list[Tensor]:
        """``sum_i w_i eps_i``, with the weights of the update ``sum_i w_i g_i``: each ``g_i`` moves with its own
        ``eps_i``, so this is the ``rho * d_hat`` whose sensitivity LETS needs (not the last ``eps_i`` alone)."""
        foreach = self.foreach
        eps_sum = ops.clone(perturbations[0], foreach)
        for e in perturbations[1:]:
            ops.add_(eps_sum, e, foreach)
        weighted_sum = None
        if self.adaptive:
            weighted_sum = ops.scale(perturbations[0], passes.cs[0], foreach)
            for e, c in zip(perturbations[1:], passes.cs[1:], strict=False):
                ops.add_(weighted_sum, ops.scale(e, c, foreach), foreach)
        return self._weighted_mean(eps_sum, weighted_sum, passes.c_total)

    def _weighted_mean(
        self, plain_sum: list[Tensor], weighted_sum: list[Tensor] | None, c_total: Tensor
    ) -> list[Tensor]:
        """``sum_i w_i x_i`` from ``sum_i x_i`` and ``sum_i c_i x_i``: ``w_i = 1/n``, or with ``adaptive``
        ``c_i / sum_j c_j``, falling back to ``1/n`` when every ``c_i`` is 0."""
        mean = ops.scale(plain_sum, 1.0 / self.n_perturbations, self.foreach)
        if self.adaptive:
            assert weighted_sum is not None
            # Chosen on the device, without a host sync: the weighted mean, or 1/n when every c_i is 0.
            use_weights = c_total > 0
            ops.scale_(mean, torch.where(use_weights, 0.0, 1.0), self.foreach)
            weighted_mean = ops.scale(weighted_sum, torch.where(use_weights, 1.0 / c_total, 0.0), self.foreach)
            ops.add_(mean, weighted_mean, self.foreach)
        return mean

    def _perturbations(self, params: list[Tensor], eps_g: list[Tensor], rho: Tensor | float) -> list[list[Tensor]]:
        n = self.n_perturbations
        if self.strategy == "random":
            return [self._random(params, rho) for _ in range(n)]
        if self.strategy == "gradient":
            return [eps_g] + [self._structured(params, eps_g, 0.1 * i, rho) for i in range(1, n)]
        out = []
        for i in range(n):  # mixed
            if i == 0:
                out.append(eps_g)
            elif i % 2 == 1:
                out.append(self._random(params, rho))
            else:
                out.append(self._structured(params, eps_g, 0.1, rho))
        return out

    def _random(self, params: list[Tensor], rho: Tensor | float) -> list[Tensor]:
        """``rho z / ||z||`` with a fresh ``z ~ N(0, I)``, drawn per parameter in order."""
        gen = self.generator
        z = [torch.randn(p.shape, generator=gen, dtype=p.dtype, device=gen.device).to(p.device) for p in params]
        ops.scale_(z, rho / ops.global_norm(z, self.foreach), self.foreach)
        return z

    def _structured(self, params: list[Tensor], eps_g: list[Tensor], s: float, rho: Tensor | float) -> list[Tensor]:
        """``rho (eps_g + s eps_r) / ||eps_g + s eps_r||`` with a fresh ``eps_r``."""
        eps_r = self._random(params, rho)
        ops.scale_(eps_r, s, self.foreach)
        ops.add_(eps_r, eps_g, self.foreach)  # eps_g + s eps_r, built in eps_r's own buffers
        ops.scale_(eps_r, rho / ops.global_norm(eps_r, self.foreach), self.foreach)
        return eps_r

    def _extra_state(self) -> dict[str, Any]:
        return {"generator_state": self.generator.get_state()}

    def _load_extra_state(self, own: dict[str, Any]) -> None:
        self.generator.set_state(own["generator_state"].cpu())
