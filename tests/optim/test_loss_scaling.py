"""Every SAM-family rule under fp16 with a GradScaler, and with clipping of the applied gradient.

fp16 autocast and the scaler run on the CPU, so these tests run everywhere. Overflows are injected by making one
pass's loss infinite, so that its gradients are inf or NaN, as a real fp16 overflow leaves them."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.optim import LETS, list_optimizers, passes_per_step
from tests.optim.problems import TEST_HPARAMS, base_of, build, classification_data

RULES = [name for name in list_optimizers() if name != "sgd"]  # SGD is torch's own, scaled the usual way


class Run:
    """A two-layer net and a batch, stepped by one rule, in fp32 or in fp16 with a GradScaler."""

    def __init__(self, name: str, *, fp16: bool, lr: float = 0.1, seed: int = 0, **hp) -> None:
        torch.manual_seed(seed)
        self.model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 3))
        self.x, self.y = classification_data(seed)
        self.xv, self.yv = classification_data(seed + 1000, n=64)
        self.opt = build(name, self.model, lr=lr, **hp)
        self.scaler = torch.amp.GradScaler("cpu", enabled=fp16)
        self.opt.grad_scaler = self.scaler if fp16 else None
        self.fp16 = fp16
        self.calls: list[bool] = []  # per closure call of the current step: was grad enabled
        self.overflow_at: int | None = None  # the call of the next step whose loss is made infinite

    def closure(self, x: Tensor, y: Tensor):
        def closure() -> Tensor:
            self.calls.append(torch.is_grad_enabled())
            self.opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.float16, enabled=self.fp16):
                loss = F.cross_entropy(self.model(x).float(), y)
            if self.overflow_at is not None and len(self.calls) == self.overflow_at:
                loss = loss * math.inf
            if torch.is_grad_enabled():
                self.scaler.scale(loss).backward()
            return loss.detach()

        return closure

    def step(self) -> Tensor:
        self.calls = []
        closure = self.closure(self.x, self.y)
        if isinstance(self.opt, LETS):
            return self.opt.step(closure, self.closure(self.xv, self.yv))
        return self.opt.step(closure)


def state_equal(a, b) -> bool:
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(state_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(state_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def overflow_calls(name: str) -> list[int]:
    """The closure calls to overflow: the second pass; for LETS also the third, after its radius has moved."""
    return [2, 3] if name.startswith("lets-") else [2]


@pytest.mark.parametrize("name", RULES)
def test_an_overflow_skips_the_whole_step_and_backs_the_scale_off(name):
    for call in overflow_calls(name):
        run = Run(name, fp16=True)
        for _ in range(3):  # momentum, F-SAM's EMA and LETS's sensitivity exist before the overflow
            assert math.isfinite(float(run.step()))
        assert run.opt.skipped_steps == 0
        params = [p.detach().clone() for p in run.model.parameters()]
        state = copy.deepcopy(run.opt.state_dict())  # state_dict shares the live tensors
        scale = run.scaler.get_scale()
        run.overflow_at = call
        run.step()
        assert all(torch.equal(p, q) for p, q in zip(run.model.parameters(), params, strict=True))
        assert state_equal(run.opt.state_dict(), state), "the rule's or the base optimizer's state moved"
        assert run.scaler.get_scale() == scale * run.scaler.get_backoff_factor()
        assert run.opt.skipped_steps == 1
        run.overflow_at = None
        assert math.isfinite(float(run.step()))  # and training goes on
        assert not all(torch.equal(p, q) for p, q in zip(run.model.parameters(), params, strict=True))


@pytest.mark.parametrize("name", RULES)
def test_fp16_training_reaches_the_fp32_loss(name):
    losses = {}
    for fp16 in (False, True):
        run = Run(name, fp16=fp16)
        for _ in range(60):
            loss = run.step()
        losses[fp16] = float(loss)
        assert run.opt.skipped_steps == 0
    assert losses[True] == pytest.approx(losses[False], rel=0.02, abs=0.005), losses


def tensors(state) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state.double()]
    if isinstance(state, dict):  # XSAM's alpha is a grid point chosen by argmax: fp16 rounding may pick another
        return [t for k in sorted(state, key=str) if k != "alpha" for t in tensors(state[k])]
    if isinstance(state, list | tuple):
        return [t for v in state for t in tensors(v)]
    return []


@pytest.mark.parametrize("name", RULES)
def test_the_rules_state_under_fp16_holds_true_gradients(name):
    """F-SAM's gradient EMA, LETS's sensitivity and radius and the momentum hold the magnitudes of unscaled
    gradients: a rule that read scaled gradients would hold them 65536 times too large."""
    states = []
    for fp16 in (False, True):
        run = Run(name, fp16=fp16)
        for _ in range(3):
            run.step()
        states.append(tensors(run.opt.state_dict()))
    assert len(states[0]) == len(states[1]) > 0
    for ours, theirs in zip(states[1], states[0], strict=True):
        assert torch.allclose(ours, theirs, rtol=0.05, atol=2e-3), (ours, theirs)


@pytest.mark.parametrize("name", RULES)
def test_closure_calls_per_step_equal_the_declared_passes_under_fp16(name):
    run = Run(name, fp16=True)
    grad_calls = []
    for _ in range(12):
        run.step()
        grad_calls.append(sum(run.calls))
    hparams = {**TEST_HPARAMS.get(name, {})}
    # After the first step (LETS has no validation pass on its first), the mean matches the declaration.
    assert sum(grad_calls[1:]) / len(grad_calls[1:]) == pytest.approx(passes_per_step(name, **hparams))


def applied_norms(run: Run) -> list[float]:
    """The norm of the gradient in ``.grad`` each time the base optimizer steps."""
    base = base_of(run.opt)
    norms: list[float] = []
    step = base.step

    def spy(*args, **kwargs):
        grads = [p.grad for p in run.model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return step(*args, **kwargs)

    base.step = spy
    return norms


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize("name", RULES)
def test_clipping_bounds_the_applied_gradient(name, fp16):
    bound = 0.05
    unclipped, clipped = Run(name, fp16=fp16), Run(name, fp16=fp16)
    clipped.opt.clip_grad_norm = bound
    free, bounded = applied_norms(unclipped), applied_norms(clipped)
    for _ in range(8):
        unclipped.step()
        clipped.step()
    assert max(free) > 2 * bound  # the bound bites on this problem
    assert len(bounded) == 8 and max(bounded) <= bound * (1 + 1e-5)


class Quartic(nn.Module):
    """``sum(w^4) / 4`` from w = (6, -5): its gradients are huge far from 0 and tiny near it."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([6.0, -5.0]))

    def forward(self) -> Tensor:
        return (self.w**4).sum() / 4


def quartic_loss(name: str, clip: float | None, steps: int = 300) -> float:
    model = Quartic()
    opt = build(name, model, lr=0.1, momentum=0.0)
    opt.clip_grad_norm = clip

    def closure() -> Tensor:
        opt.zero_grad()
        loss = model()
        if torch.is_grad_enabled():
            loss.backward()
        return loss.detach()

    for _ in range(steps):
        loss = opt.step(closure, closure) if isinstance(opt, LETS) else opt.step(closure)
        if not math.isfinite(float(loss)):
            return math.inf
    return float(model().detach())


@pytest.mark.parametrize("name", RULES)
def test_a_learning_rate_that_diverges_converges_with_clipping(name):
    assert not quartic_loss(name, clip=None) < 1e6
    assert quartic_loss(name, clip=1.0) < 1e-2


@pytest.mark.parametrize("name", RULES)
def test_stepping_through_scaler_step_is_refused_with_what_works(name):
    """GradScaler.step(opt, closure) would unscale only the gradients present before the step and let the rule's
    own passes run on scaled ones (weights 500 times too large after one step): it is refused, and the error
    names the way that works, which then trains."""
    run = Run(name, fp16=True)
    run.opt.grad_scaler = None
    run.calls = []
    closure = run.closure(run.x, run.y)
    args = (closure, run.closure(run.xv, run.yv)) if isinstance(run.opt, LETS) else (closure,)
    before = [p.detach().clone() for p in run.model.parameters()]
    closure()  # the user's scaled backward before scaler.step, as in torch's AMP recipe
    with pytest.raises(RuntimeError, match=r"opt\.grad_scaler = scaler"):
        run.scaler.step(run.opt, *args)
    assert all(torch.equal(p, q) for p, q in zip(run.model.parameters(), before, strict=True))
    run.scaler = torch.amp.GradScaler("cpu")
    run.opt.grad_scaler = run.scaler
    for _ in range(3):
        loss = run.step()
    assert math.isfinite(float(loss)) and not loss.requires_grad


@pytest.mark.parametrize("name", RULES)
def test_step_returns_the_clean_loss_without_its_graph(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = classification_data(0)
    opt = build(name, model)

    def closure() -> Tensor:  # returns the loss with its graph, as most users' closures do
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    loss = opt.step(closure, closure) if isinstance(opt, LETS) else opt.step(closure)
    assert not loss.requires_grad and loss.grad_fn is None
    assert base_of(opt) is opt.base_optimizer
