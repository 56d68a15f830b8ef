"""LETS: learning the perturbation radius (Wang, Jiang, Fu, Zhang, 2024).

No official code exists; this follows the project's own specification in docs/algorithms.md: the radius is
an upper-level variable learned by minimising ``F(rho) = 1/2 (L_val - L_train)^2`` with a hypergradient
through a one-step sensitivity ``u = d theta_{t+1} / d rho`` and a diagonal Hessian approximation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim import _tensor_ops as ops
from pipeline.optim.base import (
    Closure,
    Displacement,
    GradientOverflow,
    SAMFamilyOptimizer,
    WrappingOptimizer,
    check_positive,
    did_you_mean,
    refuse_grad_scaler_step,
)

HESSIANS = ("diagonal", "finite_difference", "identity")
SENSITIVITY_KEY = "rho_sensitivity"
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-12


class LETS(WrappingOptimizer):
    """Learns the radius ``rho`` of any SAM-family optimizer ``inner`` while it trains.

    At step ``t`` (``t > 0`` and ``t % update_every == 0``) one validation pass at the clean point gives
    ``h = (L_val - L_tr) <g_val - g, u_{t-1}>`` and ``log rho`` takes an Adam step on ``h * rho``
    (``beta = (0.9, 0.999)``, ``eps = 1e-12``, bias-corrected), after which ``rho`` is clipped to
    ``[rho_min, rho_max]``. Then ``inner``'s rule runs with the new ``rho`` and the sensitivity
    ``u_t = -lr * H d_hat`` is stored, with ``H = g~ * g~`` (``diagonal``), ``1`` (``identity``), or
    ``(g~ - g)/rho`` in place of ``H d_hat`` (``finite_difference``, refused for a rule whose update is no
    gradient at ``theta + rho d_hat``: XSAM). The radius stays on the device;
    :attr:`rho` reads it as a float for logging (one sync per read).

    ``step(closure, val_closure)``: ``val_closure`` follows the closure protocol on a validation batch
    (the trainer cycles through the validation split, never the test split).

    What LETS asks of ``inner`` is its public pass protocol only: ``clean_pass``, ``participating_params``,
    ``extra_pass`` (the validation pass), ``compute_update(closure, loss, params, rho)`` with the learned
    ``rho``, which returns the displacement ``e = rho * d_hat`` of the update, and ``finish_step``. The rule's
    own ``rho`` is the starting radius and is never changed.
    """

    _step_supports_amp_scaling: ClassVar[bool] = True  # see refuse_grad_scaler_step

    def __init__(
        self,
        inner: SAMFamilyOptimizer,
        rho_lr: float = 0.01,
        rho_min: float = 1e-4,
        rho_max: float | None = None,
        hessian: str = "diagonal",
        update_every: int = 1,
    ) -> None:
        if not isinstance(inner, SAMFamilyOptimizer):
            raise TypeError(
                f"LETS wraps a SAM-family optimizer (SAM, ASAM, MPSAM, FSAM, XSAM), got {type(inner).__name__}"
            )
        rho0 = float(inner.rho)
        rho_max = 10.0 * rho0 if rho_max is None else rho_max
        _check_settings(rho0, rho_lr, rho_min, rho_max, hessian, update_every)
        if hessian == "finite_difference" and not inner.update_is_perturbed_gradient:
            raise ValueError(
                f"hessian='finite_difference' does not apply to {type(inner).__name__}: its update gradient is not "
                "a gradient taken at theta + rho d_hat, so (g~ - g)/rho is no Hessian-vector product; "
                "use hessian='diagonal' (the default) or hessian='identity'"
            )
        settings = {"rho_lr": rho_lr, "rho_min": rho_min, "rho_max": rho_max, "hessian": hessian}
        super().__init__(inner, {**settings, "update_every": update_every})
        self.rho_lr = rho_lr
        self.rho_min = rho_min
        self.rho_max = rho_max
        self.hessian = hessian
        self.update_every = update_every
        device = inner.all_params()[0].device
        # float64 scalars on the device: cheap, and they keep the log-space steps exact.
        self._rho = torch.tensor(rho0, dtype=torch.float64, device=device)
        self._log_rho = torch.log(self._rho)
        self._adam_m = torch.zeros((), dtype=torch.float64, device=device)
        self._adam_v = torch.zeros((), dtype=torch.float64, device=device)
        self.rho_updates = 0

    @property
    def inner(self) -> SAMFamilyOptimizer:
        assert isinstance(self._wrapped, SAMFamilyOptimizer)
        return self._wrapped

    @property
    def rho(self) -> float:
        return float(self._rho.item())

    @property
    def rho_tensor(self) -> Tensor:
        """The current radius as a 0-dim device tensor (read it without a host sync)."""
        return self._rho

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, closure: Closure | None = None, val_closure: Closure | None = None
    ) -> Tensor:
        if closure is None or val_closure is None:
            raise ValueError(
                "LETS.step needs closure (a training batch) and val_closure (a validation batch), "
                "both following the closure protocol"
            )
        refuse_grad_scaler_step(self)
        inner = self.inner
        # Under loss scaling a pass may overflow: the step, the radius's update with it, is then skipped whole.
        saved = (self.save_rule_state(), inner.save_rule_state()) if inner.scaler() is not None else None
        loss = None
        try:
            loss = inner.clean_pass(closure)
            params = inner.participating_params()
            clean_grads = [p.grad for p in params]
            if self.step_count > 0 and self.step_count % self.update_every == 0:
                val_loss = inner.extra_pass(val_closure, sync="global")
                val_grads = ops.grads_or_zeros(params)
                for p, g in zip(params, clean_grads, strict=False):
                    p.grad = g
                self._update_rho(loss.detach(), val_loss.detach(), params, clean_grads, val_grads)
            displacement = inner.compute_update(closure, loss, params, self._rho)
            self._store_sensitivity(params, clean_grads, displacement)
        except GradientOverflow as overflow:
            if saved is not None:
                self.restore_rule_state(saved[0])
            inner.skip_step(saved[1] if saved is not None else None)
            return (overflow.loss if loss is None else loss).detach()
        inner.finish_step()
        self.step_count += 1
        return loss.detach()

    # Loss scaling and clipping belong to the inner rule, which runs every pass and the base step.
    @property
    def grad_scaler(self) -> Any:
        return self.inner.grad_scaler

    @grad_scaler.setter
    def grad_scaler(self, scaler: Any) -> None:
        self.inner.grad_scaler = scaler

    @property
    def clip_grad_norm(self) -> float | None:
        return self.inner.clip_grad_norm

    @clip_grad_norm.setter
    def clip_grad_norm(self, bound: float | None) -> None:
        self.inner.clip_grad_norm = bound

    @property
    def skipped_steps(self) -> int:
        return self.inner.skipped_steps

    @property
    def base_optimizer(self) -> Optimizer:
        """The optimizer that applies the update (the inner rule's), as the canonical PyTorch SAM names it."""
        return self.inner.base

    def _update_rho(
        self, loss: Tensor, val_loss: Tensor, params: list[Tensor], grads: list[Tensor], val_grads: list[Tensor]
    ) -> None:
        u = [self.state[p].get(SENSITIVITY_KEY, None) for p in params]
        keep = [i for i, ui in enumerate(u) if ui is not None]
        if not keep:
            return
        inner = self.inner
        diff = ops.sub([val_grads[i] for i in keep], [grads[i] for i in keep], inner.foreach)
        inner_product = ops.dot(diff, [u[i] for i in keep], inner.foreach).to(torch.float64)
        h = (val_loss - loss).to(torch.float64) * inner_product
        # Data-parallel: the mean of the workers' hypergradients keeps rho identical on every worker (and under
        # the global perturbation it is exactly the one-device hypergradient of the whole batch).
        h = h.clone()
        inner.mean_over_workers_([h])
        grad_log_rho = h * self._rho
        self.rho_updates += 1
        b = self.rho_updates
        self._adam_m = BETA1 * self._adam_m + (1 - BETA1) * grad_log_rho
        self._adam_v = BETA2 * self._adam_v + (1 - BETA2) * grad_log_rho * grad_log_rho
        m_hat = self._adam_m / (1 - BETA1**b)
        v_hat = self._adam_v / (1 - BETA2**b)
        log_rho = self._log_rho - self.rho_lr * m_hat / (torch.sqrt(v_hat) + ADAM_EPS)
        self._rho = torch.exp(log_rho).clamp(self.rho_min, self.rho_max)
        self._log_rho = torch.log(self._rho)

    def _store_sensitivity(self, params: list[Tensor], clean_grads: list[Tensor], displacement: Displacement) -> None:
        """``u_t = -lr * H d_hat`` per parameter group, with ``d_hat = e / rho`` (``e``: the rule's displacement)."""
        inner = self.inner
        # finite_difference needs no d_hat: MP-SAM's weighted mean of perturbations is then never formed.
        e = displacement() if self.hessian != "finite_difference" else []
        index = {p: i for i, p in enumerate(params)}
        foreach = inner.foreach
        for group in self.param_groups:
            rows = [index[p] for p in group["params"] if p in index]
            if not rows:
                continue
            lr = group["lr"]
            ps = [params[i] for i in rows]
            update_grads = [params[i].grad for i in rows]
            factor = -lr / self._rho
            if self.hessian == "finite_difference":
                u = ops.sub(update_grads, [clean_grads[i] for i in rows], foreach)
                ops.scale_(u, factor, foreach)
            elif self.hessian == "diagonal":
                u = ops.mul([e[i] for i in rows], ops.mul(update_grads, update_grads, foreach), foreach)
                ops.scale_(u, factor, foreach)
            else:  # identity
                u = ops.scale([e[i] for i in rows], factor, foreach)
            for p, ui in zip(ps, u, strict=False):
                self.state[p][SENSITIVITY_KEY] = ui

    def _extra_state(self) -> dict[str, Any]:
        return {
            "rho": self._rho,
            "adam_m": self._adam_m,
            "adam_v": self._adam_v,
            "rho_updates": self.rho_updates,
        }

    def _load_extra_state(self, own: dict[str, Any]) -> None:
        device = self._rho.device
        self._rho = own["rho"].detach().to(device, torch.float64).clone()
        self._log_rho = torch.log(self._rho)
        self._adam_m = own["adam_m"].detach().to(device, torch.float64).clone()
        self._adam_v = own["adam_v"].detach().to(device, torch.float64).clone()
        self.rho_updates = int(own["rho_updates"])


def _check_settings(
    rho0: float, rho_lr: float, rho_min: float, rho_max: float, hessian: str, update_every: int
) -> None:
    check_positive("rho_lr", rho_lr)
    check_positive("rho_min", rho_min)
    check_positive("rho_max", rho_max)
    if rho_min > rho_max:
        raise ValueError(f"rho_min ({rho_min!r}) must not exceed rho_max ({rho_max!r})")
    if not rho_min <= rho0 <= rho_max:
        raise ValueError(
            f"the inner optimizer's rho ({rho0!r}) must lie in [rho_min, rho_max] = [{rho_min}, {rho_max}]"
        )
    if hessian not in HESSIANS:
        hint = did_you_mean(hessian, HESSIANS)
        raise ValueError(f"unknown hessian {hessian!r}; expected one of {', '.join(HESSIANS)}{hint}")
    if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
        raise ValueError(f"update_every must be an integer >= 1, got update_every={update_every!r}")
