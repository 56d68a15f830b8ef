"""The shared machinery of the SAM family: wrapping, the pass protocol, exact restore, state_dict.

A SAM-family optimizer wraps an already-built *base* optimizer (Composer's pattern) and shares its
``param_groups``: lr, momentum, weight decay and LR schedulers stay with the base and never enter the
perturbation. One step is

1. the clean pass (``closure()`` with grad enabled) giving ``L`` and ``g``;
2. the variant's rule at a radius ``rho`` (:meth:`SAMFamilyOptimizer.compute_update`), which may call the
   closure again at perturbed points, always restores the parameters bit for bit from a saved copy (also
   when a closure raises), leaves the update gradient ``g~`` in ``.grad`` and returns the displacement
   ``rho * d_hat`` its update was taken along (built only when asked for);
3. ``base.step()`` (:meth:`SAMFamilyOptimizer.finish_step`).

LETS drives steps 1-3 itself through these public methods, so that its radius update sits between the clean
pass and the rule: it passes its learned radius to ``compute_update`` and reads ``d_hat`` from what that
returns. Nothing of the rule is set or read from outside.

Data-parallel training (DDP, one worker per device) sets ``workers`` (a :class:`WorkerSync`). Every pass
says which gradients it needs: ``sync="always"`` (the update of SAM, ASAM, F-SAM: DDP all-reduces it during
backward), ``sync="global"`` (a gradient that shapes the perturbation: all-reduced only under the ``global``
perturbation, kept on the worker under ``local``, the m-sharpness of the SAM paper's own code) or
``sync="never"`` (a rule that averages its update explicitly with :meth:`mean_over_workers_`).

Loss scaling (fp16): with ``grad_scaler`` set to a ``torch.amp.GradScaler``, the closure calls
``scaler.scale(loss).backward()``. Every pass's gradients are unscaled in place as the pass returns, before the
rule reads them, so each rule computes its perturbation from true gradients; a pass whose gradients hold an inf or
a NaN ends the step at once (:class:`GradientOverflow`): the parameters are restored as always, the rule's own
state goes back to where the step found it, the base optimizer does not step, the scaler backs off, and
``skipped_steps`` counts it. A finished step hands the update gradient to the scaler's own ``unscale_``, ``step``
and ``update``. ``clip_grad_norm`` clips only the gradient the base optimizer applies, never a gradient that
sets the perturbation's direction (docs/algorithms.md, "Precision, clipping and accumulation").
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor
from torch.optim import Optimizer

from pipeline.optim import _tensor_ops as ops

Closure = Callable[[], Tensor]

Displacement = Callable[[], list[Tensor]]
"""What :meth:`SAMFamilyOptimizer.compute_update` returns: called, it gives ``rho * d_hat``, one tensor per
participating parameter, the displacement from the clean point along which the step's update was taken
(docs/algorithms.md, LETS, "Which d_hat each inner rule reports"). A callable, so that a rule whose
``d_hat`` costs work to form (MP-SAM's weighted mean) does that work only for a caller that asks (LETS)."""


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {name}={value!r}")


def check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {name}={value!r}")


def did_you_mean(name: object, valid: Iterable[str]) -> str:
    """``"; did you mean 'sam'?"`` for the valid name nearest a misspelt ``name``; "" when none is near."""
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class WorkerSync(Protocol):
    """How one data-parallel worker's step talks to the others (see ``pipeline.train.data_parallel``)."""

    local: bool  # True: each worker perturbs with its own minibatch gradient (m-sharpness)

    def no_sync(self) -> ContextManager[Any]:
        """A pass (forward and backward) whose gradient stays on this worker."""
        ...

    def mean_(self, tensors: Sequence[Tensor]) -> None:
        """Replace each tensor by its mean over the workers, in place."""
        ...


SYNC_MODES = ("always", "global", "never")


class GradientOverflow(Exception):
    """A pass's unscaled gradients hold an inf or a NaN under loss scaling: the step it belongs to is skipped.
    Raised and caught inside ``step``; ``loss`` is the loss of the pass that overflowed."""

    def __init__(self, loss: Tensor) -> None:
        super().__init__("non-finite gradients under loss scaling")
        self.loss = loss


class WrappingOptimizer(Optimizer):
    """An Optimizer whose ``param_groups`` are those of the optimizer it wraps.

    ``param_groups`` is a property, so that it keeps pointing at the wrapped optimizer's groups even
    after that optimizer's ``load_state_dict`` rebinds them. The wrapper's own ``state`` holds only what
    its rule must carry from step to step (EMA buffers, LETS's radius); perturbation buffers live for one
    step and are never stored.
    """

    def __init__(self, wrapped: Optimizer, defaults: dict[str, Any]) -> None:
        if not isinstance(wrapped, Optimizer):
            raise TypeError(
                f"{type(self).__name__} wraps an already-built torch.optim.Optimizer, got {type(wrapped).__name__}"
            )
        self._wrapped: Optimizer | None = None
        params = [p for group in wrapped.param_groups for p in group["params"]]
        # Optimizer.__init__ sets up hooks and state; the single group it builds is dropped right after.
        super().__init__(params, defaults)
        self.__dict__.pop("_init_groups", None)
        self._wrapped = wrapped
        self.step_count = 0

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        if self._wrapped is None:
            return self.__dict__["_init_groups"]
        return self._wrapped.param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        if getattr(self, "_wrapped", None) is not None:
            raise AttributeError(
                f"{type(self).__name__}.param_groups belong to the wrapped optimizer; change them there"
            )
        self.__dict__["_init_groups"] = groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self._wrapped is None:
            super().add_param_group(param_group)
        else:
            self._wrapped.add_param_group(param_group)

    # Optimizer.__getstate__ keeps only defaults/state/param_groups; deepcopy and pickle need the rest.
    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)

    def all_params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        index = {p: i for i, p in enumerate(self.all_params())}
        own = {
            "step_count": self.step_count,
            "param_state": {index[p]: dict(s) for p, s in self.state.items() if p in index},
            **self._extra_state(),
        }
        return {"wrapped": self._wrapped.state_dict(), "own": own}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        if set(state_dict) != {"wrapped", "own"}:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict expects the dict produced by its state_dict() "
                f"(keys 'wrapped' and 'own'), got keys {sorted(state_dict)}"
            )
        self._wrapped.load_state_dict(state_dict["wrapped"])
        own = state_dict["own"]
        params = self.all_params()
        self.state.clear()
        for i, values in own["param_state"].items():
            p = params[int(i)]
            self.state[p] = {k: _clone_to(v, p) for k, v in values.items()}
        self.step_count = int(own["step_count"])
        self._load_extra_state(own)

    def save_rule_state(self) -> tuple[dict[Tensor, dict[str, Any]], dict[str, Any]]:
        """A copy of the rule's own step-to-step state (per parameter and not), for :meth:`restore_rule_state`."""
        per_param = {p: {k: copy.deepcopy(v) for k, v in s.items()} for p, s in self.state.items()}
        return per_param, copy.deepcopy(self._extra_state())

    def restore_rule_state(self, saved: tuple[dict[Tensor, dict[str, Any]], dict[str, Any]]) -> None:
        per_param, extra = saved
        self.state.clear()
        self.state.update(per_param)
        self._load_extra_state(extra)

    def _extra_state(self) -> dict[str, Any]:
        """Rule-specific step-to-step state that is not per parameter."""
        return {}

    def _load_extra_state(self, own: dict[str, Any]) -> None:
        pass


class SAMFamilyOptimizer(WrappingOptimizer):
    """Base of SAM, ASAM, MP-SAM, F-SAM and XSAM: the pass protocol and the exact restore."""

    rho: float  # the configured radius: what step() uses, and the radius LETS starts from
    # GradScaler.step(opt, closure) then calls step with grad_scale and found_inf set, which step refuses.
    _step_supports_amp_scaling: ClassVar[bool] = True
    # True when g~ is a gradient taken at theta + rho d_hat (or a weighted mean of such), so that
    # (g~ - g) / rho approximates H d_hat: LETS's finite_difference option needs that. XSAM's is not one.
    update_is_perturbed_gradient: ClassVar[bool] = True

    def __init__(self, base: Optimizer, defaults: dict[str, Any], foreach: bool | None) -> None:
        if isinstance(base, WrappingOptimizer):
            raise TypeError(
                f"{type(self).__name__} wraps a base optimizer such as torch.optim.SGD, "
                f"not another SAM-family optimizer ({type(base).__name__}); wrap a variant with LETS instead"
            )
        super().__init__(base, defaults)
        self.foreach = True if foreach is None else bool(foreach)
        # Context managers entered around every extra pass and probe (see batchnorm.py).
        self.extra_pass_contexts: list[Callable[[], ContextManager[Any]]] = []
        # Set by data-parallel training; None on one device, where every sync below is a no-op.
        self.workers: WorkerSync | None = None
        # A torch.amp.GradScaler under fp16 (module docstring); None or a disabled one: no loss scaling.
        self.grad_scaler: Any = None
        self.clip_grad_norm: float | None = None  # the bound on the applied gradient's norm; None: no clipping
        self.skipped_steps = 0  # steps skipped for non-finite gradients under loss scaling

    @property
    def base(self) -> Optimizer:
        assert self._wrapped is not None
        return self._wrapped

    @property
    def base_optimizer(self) -> Optimizer:
        """The wrapped optimizer, under the name the canonical PyTorch SAM gives it."""
        return self.base

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Tensor:  # type: ignore[override]
        if closure is None:
            raise ValueError(
                f"{type(self).__name__}.step needs a closure that zeroes the gradients, computes the loss, "
                "calls backward() when grad is enabled and returns the loss"
            )
        refuse_grad_scaler_step(self)
        saved = self.save_rule_state() if self.scaler() is not None else None
        loss = None
        try:
            loss = self.clean_pass(closure)
            self._compute_update(closure, loss, self.participating_params(), self.rho)
        except GradientOverflow as overflow:
            self.skip_step(saved)
            return (overflow.loss if loss is None else loss).detach()
        self.finish_step()
        return loss.detach()  # the clean loss, without the graph of its pass

    @torch.no_grad()
    def compute_update(self, closure: Closure, loss: Tensor, params: list[Tensor], rho: Tensor | float) -> Displacement:
        """The variant's rule at radius ``rho``, for a wrapper that drives the step itself (LETS).

        Call it between :meth:`clean_pass` (whose ``loss`` and gradients it uses; ``params`` from
        :meth:`participating_params`) and :meth:`finish_step`. ``rho`` is a float or a 0-dim tensor on the
        parameters' device (no host sync either way); the rule's own ``rho`` attribute is not read or changed.
        On return the parameters are clean bit for bit and each of ``params`` holds the update gradient ``g~``
        in ``.grad``. Returns the :data:`Displacement` ``rho * d_hat`` of the update.
        """
        return self._compute_update(closure, loss, params, rho)

    def clean_pass(self, closure: Closure) -> Tensor:
        """The pass at the clean point; its gradient shapes the perturbation, so it syncs only under global."""
        with torch.enable_grad(), self._sync_context("global"):
            loss = closure()
        self.unscale_pass_(loss)
        return loss

    def _sync_context(self, sync: str) -> ContextManager[Any]:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        workers = self.workers
        if workers is None or sync == "always" or (sync == "global" and not workers.local):
            return contextlib.nullcontext()
        return workers.no_sync()

    @property
    def perturbs_locally(self) -> bool:
        """Each worker perturbs with its own gradient (the ``local`` perturbation of data-parallel training)."""
        return self.workers is not None and self.workers.local

    def mean_over_workers_(self, tensors: Sequence[Tensor]) -> None:
        """In place, the mean of each tensor over the data-parallel workers (nothing on one device)."""
        if self.workers is not None:
            self.workers.mean_(tensors)

    def global_mean(self, value: Tensor) -> Tensor:
        """A per-worker scalar (a loss) as its mean over workers under the global perturbation; as is otherwise."""
        if self.workers is None or self.workers.local:
            return value
        out = value.detach().clone()
        self.workers.mean_([out])
        return out

    def participating_params(self) -> list[Tensor]:
        """Parameters that received a gradient in the clean pass, in param_groups order."""
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    def extra_pass(self, closure: Closure, *, grad: bool = True, sync: str = "always") -> Tensor:
        """One more closure call (a perturbed pass, a probe or a validation pass); ``sync`` as in the module doc."""
        # Detach the gradients we may still hold, so a closure that zeroes in place cannot overwrite them.
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None
        with contextlib.ExitStack() as stack:
            for context in self.extra_pass_contexts:
                stack.enter_context(context())
            stack.enter_context(self._sync_context(sync))
            with torch.set_grad_enabled(grad):
                loss = closure()
        if grad:
            self.unscale_pass_(loss)
        return loss

    @contextlib.contextmanager
    def perturbed(self, params: Sequence[Tensor], clean: Sequence[Tensor], e: Sequence[Tensor]) -> Iterator[None]:
        """Parameters at ``clean + e`` inside the block, restored bit for bit from ``clean`` after it."""
        ops.add_(params, e, self.foreach)
        try:
            yield
        finally:
            ops.copy_(params, clean, self.foreach)

    def scaler(self) -> Any:
        """The GradScaler in use, or None (none set, or one that is disabled)."""
        scaler = self.grad_scaler
        return scaler if scaler is not None and scaler.is_enabled() else None

    def unscale_pass_(self, loss: Tensor) -> None:
        """Under loss scaling, the gradients of the pass that just ran, divided by the scale in place (exact: the
        scale is a power of two); raises :class:`GradientOverflow` if any is not finite on any worker."""
        scaler = self.scaler()
        grads = [p.grad for p in self.all_params() if p.grad is not None]
        if scaler is None or not grads:
            return
        ops.scale_(grads, 1.0 / scaler.get_scale(), self.foreach)
        bad = torch.logical_not(torch.stack([torch.isfinite(g).all() for g in grads]).all()).float()
        self.mean_over_workers_([bad])  # every worker skips the step when one of them overflowed
        if bool(bad > 0):
            raise GradientOverflow(loss)

    def skip_step(self, saved: tuple[dict[Tensor, dict[str, Any]], dict[str, Any]] | None) -> None:
        """Nothing of an overflowed step is applied. The parameters are clean already (every rule restores them,
        also when a pass raises); the rule's own state goes back to ``saved``; the base optimizer does not step;
        the scaler, shown non-finite gradients by its own ``unscale_`` (on every worker alike), skips and backs off."""
        if saved is not None:
            self.restore_rule_state(saved)
        scaler = self.scaler()
        if scaler is not None:
            for p in self.all_params():
                p.grad = torch.full_like(p, math.inf)
            scaler.unscale_(self.base)
            scaler.step(self.base)
            scaler.update()
        self.zero_grad(set_to_none=True)
        self.skipped_steps += 1

    def finish_step(self) -> None:
        """The base optimizer's step with the update gradient in ``.grad``, clipped when ``clip_grad_norm`` is set;
        under loss scaling through the scaler's own ``unscale_``, ``step`` and ``update``."""
        scaler = self.scaler()
        if scaler is None:
            self._clip_applied_gradient()
            self.base.step()
        else:
            grads = [p.grad for p in self.all_params() if p.grad is not None]
            ops.scale_(grads, scaler.get_scale(), self.foreach)  # back to scaled, exactly, for the scaler's unscale_
            scaler.unscale_(self.base)
            self._clip_applied_gradient()
            scaler.step(self.base)
            scaler.update()
        self.step_count += 1

    def _clip_applied_gradient(self) -> None:
        if self.clip_grad_norm is not None:
            grads = [p for p in self.all_params() if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(grads, self.clip_grad_norm)

    def _compute_update(
        self, closure: Closure, loss: Tensor, params: list[Tensor], rho: Tensor | float
    ) -> Displacement:
        """Each variant's rule, as :meth:`compute_update` describes it (called under ``torch.no_grad``)."""
        raise NotImplementedError

    def ascent_perturbation(
        self, params: Sequence[Tensor], d: Sequence[Tensor], rho: Tensor | float, *, adaptive: bool, eta: float = 0.0
    ) -> list[Tensor]:
        """``e = rho * d / (||d|| + eps)``, or with ``adaptive`` ASAM's ``rho * T^2 d / (||T d|| + eps)``."""
        if not adaptive:
            return ops.scale(d, rho / (ops.global_norm(d, self.foreach) + ops.EPS), self.foreach)
        t = ops.abs_add(params, eta, self.foreach)
        td = ops.mul(t, d, self.foreach)
        e = ops.mul(t, td, self.foreach)
        ops.scale_(e, rho / (ops.global_norm(td, self.foreach) + ops.EPS), self.foreach)
        return e

    def two_pass_update(self, closure: Closure, params: list[Tensor], e: list[Tensor]) -> None:
        """SAM's second half: the pass at ``theta + e``, the restore, ``g~`` left in ``.grad``."""
        clean = ops.clone(params, self.foreach)
        with self.perturbed(params, clean, e):
            self.extra_pass(closure)
        set_missing_grads_to_zero(params)


def refuse_grad_scaler_step(optimizer: Optimizer) -> None:
    """``GradScaler.step(opt, closure)`` cannot drive a multi-pass rule: it unscales only the gradients present
    before the step and would let the rule's own passes run on scaled ones. The scaler calls ``step`` with the
    attributes ``grad_scale`` and ``found_inf`` set (``_step_supports_amp_scaling``): refuse, and say what works."""
    if "grad_scale" in optimizer.__dict__ or "found_inf" in optimizer.__dict__:
        optimizer.__dict__.pop("grad_scale", None)
        optimizer.__dict__.pop("found_inf", None)
        raise RuntimeError(
            f"{type(optimizer).__name__} is stepped with its GradScaler attached, not through scaler.step(): set "
            "opt.grad_scaler = scaler once, call scaler.scale(loss).backward() inside the closure, and call "
            "opt.step(closure) (it unscales every pass and calls the scaler's unscale_, step and update itself); "
            "see docs/algorithms.md, 'Precision, clipping and accumulation'"
        )


def set_missing_grads_to_zero(params: Sequence[Tensor]) -> None:
    """A participating parameter that got no gradient in the last pass has a zero gradient there."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)


def _clone_to(value: Any, param: Tensor) -> Any:
    if isinstance(value, Tensor):
        return value.detach().to(param.device).clone()
    return value
