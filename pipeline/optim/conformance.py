"""The SAM family's contract, as a kit: ``check_rule`` runs on any registered rule (a shipped one, or a user's, see
``register_rule``) the checks the shipped rules pass, on small models on the CPU, and says which hold.

Use it in your own test suite, in the manner of torch's ``OptimizerInfo``::

    from pipeline.optim.conformance import check_rule
    from pipeline.optim import register_rule

    def test_my_rule_keeps_the_contract():
        register_rule("signsam", SignSAM)
        failed = [c for c in check_rule("signsam") if not c.ok]
        assert not failed, failed

``sam-study check-optimizer MODULE:CLASS`` prints the same checks, one line each.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from pipeline.optim.batchnorm import bn_update_once_per_step
from pipeline.optim.lets import LETS
from pipeline.optim.registry import base_optimizer, create_optimizer, passes_per_step, trainer_hyperparameters

# Per-parameter state a rule may carry between steps (the base optimizers', F-SAM's EMA, LETS's sensitivity).
ALLOWED_STATE_KEYS = frozenset({"momentum_buffer", "exp_avg", "exp_avg_sq", "grad_ema", "rho_sensitivity"})
STEPS = 4


@dataclass(frozen=True)
class Check:
    """One clause of the contract: its name, whether the rule keeps it, and what was seen when it does not."""

    name: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}" + (f": {self.detail}" if self.detail else "")


class _Problem:
    """A two-layer net with BatchNorm on a seeded classification problem; closures count their calls."""

    def __init__(self, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.Tanh(), nn.Linear(32, 3)).to(dtype)
        w = torch.randn(10, 3, generator=gen)
        self.x = torch.randn(128, 10, generator=gen).to(dtype)
        self.y = (self.x.float() @ w).argmax(1)
        self.xv = torch.randn(64, 10, generator=gen).to(dtype)
        self.yv = (self.xv.float() @ w).argmax(1)
        self.calls = 0

    def closure(self, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> Callable[[], Tensor]:
        def run() -> Tensor:
            self.calls += torch.is_grad_enabled()  # forward+backward passes; forward-only probes are not passes
            opt.zero_grad()
            loss = nn.functional.cross_entropy(self.model(x), y)
            if torch.is_grad_enabled():
                loss.backward()
            return loss

        return run

    def step(self, opt: torch.optim.Optimizer) -> Tensor:
        closure = self.closure(opt, self.x, self.y)
        if isinstance(opt, LETS):
            return opt.step(closure, self.closure(opt, self.xv, self.yv))
        return opt.step(closure)

    def state(self) -> list[Tensor]:
        return [t.detach().clone() for t in self.model.state_dict().values()]


def check_rule(name: str, hparams: dict[str, Any] | None = None) -> list[Check]:
    """Every check of the contract on the registered optimizer ``name`` (with ``hparams`` over its defaults)."""
    hparams = dict(hparams or {})
    checks = (
        _restores,
        _declared_passes,
        _batchnorm_once,
        _state_dict_round_trip,
        _deepcopy,
        _no_buffer_kept,
        _foreach_agrees,
        _deterministic,
        _loss_falls,
    )
    results = []
    for check in checks:
        try:
            results.append(check(name, hparams))
        except Exception as error:  # noqa: BLE001 - a rule that raises fails the check; the others still run
            results.append(Check(check.__name__.strip("_").replace("_", " "), False, f"raised {error!r}"))
    return results


def _build(name: str, problem: _Problem, hparams: dict[str, Any], foreach: bool | None = None, seed: int = 0) -> Any:
    trainer = trainer_hyperparameters(name, steps_per_epoch=1, generator=torch.Generator().manual_seed(seed))
    opt = create_optimizer(name, problem.model.parameters(), lr=0.05, foreach=foreach, **{**trainer, **hparams})
    bn_update_once_per_step(opt, problem.model)
    return opt


def _steps(problem: _Problem, opt: torch.optim.Optimizer, n: int = STEPS) -> Iterator[Tensor]:
    for _ in range(n):
        yield problem.step(opt)


def _restores(name: str, hparams: dict[str, Any]) -> Check:
    problem = _Problem()
    opt = _build(name, problem, hparams)
    seen: list[list[Tensor]] = []
    base_optimizer(opt).register_step_pre_hook(
        lambda *_: seen.append([p.detach().clone() for p in problem.model.parameters()])
    )
    for step in range(STEPS):
        before = [p.detach().clone() for p in problem.model.parameters()]
        problem.step(opt)
        if len(seen) != step + 1:
            return Check("parameters clean", False, f"{len(seen)} base steps after {step + 1} steps; one per step")
        if not all(torch.equal(a, b) for a, b in zip(seen[step], before, strict=True)):
            return Check("parameters clean", False, f"step {step}: the base step started from perturbed weights")
    return Check("parameters clean", True, "bit for bit before every base step")


def _declared_passes(name: str, hparams: dict[str, Any]) -> Check:
    problem = _Problem()
    opt = _build(name, problem, hparams)
    problem.step(opt)  # the first step may differ (LETS has no sensitivity yet, so no validation pass)
    problem.calls = 0
    for _ in _steps(problem, opt):
        pass
    declared = passes_per_step(name, **hparams)
    measured = problem.calls / STEPS
    ok = abs(measured - declared) < 1e-9
    return Check("declared passes", ok, f"declares {declared:g} per step, the closure ran {measured:g} per step")


def _batchnorm_once(name: str, hparams: dict[str, Any]) -> Check:
    problem = _Problem()
    opt = _build(name, problem, hparams)
    bn = problem.model[1]
    for step in range(1, STEPS + 1):
        expected = copy.deepcopy(problem.model)
        expected(problem.x)  # one clean training-mode forward
        problem.step(opt)
        same = torch.equal(bn.running_mean, expected[1].running_mean) and torch.equal(
            bn.running_var, expected[1].running_var
        )
        if int(bn.num_batches_tracked) != step or not same:
            return Check("batchnorm once per step", False, f"after step {step}: {int(bn.num_batches_tracked)} updates")
    return Check("batchnorm once per step", True, "running statistics move on the clean pass only")


def _state_dict_round_trip(name: str, hparams: dict[str, Any]) -> Check:
    problem, twin = _Problem(), _Problem()
    opt = _build(name, problem, hparams, seed=1)
    for _ in _steps(problem, opt):
        pass
    twin.model.load_state_dict(problem.model.state_dict())
    twin_opt = _build(name, twin, hparams, seed=999)  # another generator: the state must carry the rule's own
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    twin_opt.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(STEPS):
        problem.step(opt)
        twin.step(twin_opt)
    same = all(torch.equal(a, b) for a, b in zip(problem.state(), twin.state(), strict=True))
    return Check("state_dict round trip", same, "" if same else "a restored copy trains differently")


def _deepcopy(name: str, hparams: dict[str, Any]) -> Check:
    problem = _Problem()
    opt = _build(name, problem, hparams)
    for _ in _steps(problem, opt):
        pass
    twin = copy.copy(problem)
    twin.model, twin_opt = copy.deepcopy((problem.model, opt))
    for _ in range(STEPS):
        problem.step(opt)
        twin.step(twin_opt)
    same = all(torch.equal(a, b) for a, b in zip(problem.state(), twin.state(), strict=True))
    return Check("deepcopy", same, "" if same else "a deep copy of model and optimizer trains differently")


def _param_shaped(obj: Any, shapes: set[tuple[int, ...]], path: str = "") -> list[str]:
    if isinstance(obj, Tensor):
        return [path] if obj.dim() > 0 and tuple(obj.shape) in shapes else []
    if isinstance(obj, dict):
        return [hit for k, v in obj.items() for hit in _param_shaped(v, shapes, f"{path}/{k}")]
    if isinstance(obj, (list, tuple)):
        return [hit for i, v in enumerate(obj) for hit in _param_shaped(v, shapes, f"{path}/{i}")]
    return []


def _no_buffer_kept(name: str, hparams: dict[str, Any]) -> Check:
    problem = _Problem()
    opt = _build(name, problem, hparams)
    for _ in _steps(problem, opt):
        pass
    shapes = {tuple(p.shape) for p in problem.model.parameters()}
    kept = [p for p in _param_shaped(opt.state_dict(), shapes) if p.rsplit("/", 1)[-1] not in ALLOWED_STATE_KEYS]
    layers = {opt, getattr(opt, "inner", opt)} - {base_optimizer(opt)}
    kept += [f"{type(layer).__name__}.{k}" for layer in layers for k, v in vars(layer).items()
             if k != "state" and _param_shaped(v, shapes)]  # fmt: skip
    return Check("no perturbation kept", not kept, f"parameter-sized state between steps: {kept}" if kept else "")


def _foreach_agrees(name: str, hparams: dict[str, Any]) -> Check:
    states = []
    for foreach in (True, False):
        problem = _Problem(dtype=torch.float64)
        opt = _build(name, problem, hparams, foreach=foreach, seed=3)
        for _ in _steps(problem, opt):
            pass
        states.append(problem.state())
    close = all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(*states, strict=True))
    return Check("foreach and per-tensor paths agree", close, "" if close else "the two paths train differently")


def _deterministic(name: str, hparams: dict[str, Any]) -> Check:
    states = []
    for _ in range(2):
        problem = _Problem()
        opt = _build(name, problem, hparams, seed=5)
        for _ in _steps(problem, opt):
            pass
        states.append(problem.state())
    same = all(torch.equal(a, b) for a, b in zip(*states, strict=True))
    return Check("two runs bitwise identical", same, "" if same else "the same seeds gave different weights")


def _loss_falls(name: str, hparams: dict[str, Any]) -> Check:
    problem = _Problem()
    opt = _build(name, problem, hparams)
    first = float(problem.step(opt).detach())
    last = [float(loss.detach()) for loss in _steps(problem, opt, 60)][-1]
    return Check("loss falls", last < 0.8 * first, f"{first:.4f} -> {last:.4f} in 61 steps")
