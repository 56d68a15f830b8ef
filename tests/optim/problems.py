"""Small problems and a uniform driver for optimizer tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pipeline.optim import LETS, base_optimizer, create_optimizer, trainer_hyperparameters

base_of = base_optimizer  # the tests' short name

Closure = Callable[[], Tensor]


@dataclass
class Problem:
    model: nn.Module
    closure_for: Callable[[torch.optim.Optimizer], Closure]
    val_closure_for: Callable[[torch.optim.Optimizer], Closure]


def _closure(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable[[], Tensor]) -> Closure:
    def closure() -> Tensor:
        opt.zero_grad()
        loss = loss_fn()
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    return closure


class Quadratic(nn.Module):
    """``1/2 (x - c)^T A (x - c)`` with a fixed SPD ``A``: minimum 0 at ``c``."""

    def __init__(self, dim: int = 10, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        q = torch.randn(dim, dim, generator=gen)
        self.register_buffer("a", q @ q.T / dim + 0.5 * torch.eye(dim))
        self.register_buffer("c", torch.randn(dim, generator=gen))
        self.x = nn.Parameter(torch.randn(dim, generator=gen) * 3)

    def forward(self) -> Tensor:
        d = self.x - self.c
        return 0.5 * d @ self.a @ d


def quadratic(seed: int = 0, dtype: torch.dtype = torch.float32) -> Problem:
    model = Quadratic(seed=seed).to(dtype)
    return Problem(model, lambda opt: _closure(model, opt, model), lambda opt: _closure(model, opt, model))


def classification_data(seed: int, n: int = 128, dim: int = 10, classes: int = 3, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, classes, generator=gen)
    x = torch.randn(n, dim, generator=gen, dtype=torch.float32)
    y = (x @ w + 0.3 * torch.randn(n, classes, generator=gen)).argmax(1)
    return x.to(dtype), y


def two_layer_net(seed: int = 0, batchnorm: bool = False, dtype: torch.dtype = torch.float32) -> Problem:
    torch.manual_seed(seed)  # nn.Linear's initialisation has no generator argument
    layers: list[nn.Module] = [nn.Linear(10, 32)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(32))
    layers += [nn.Tanh(), nn.Linear(32, 3)]
    model = nn.Sequential(*layers).to(dtype)
    x, y = classification_data(seed, dtype=dtype)
    xv, yv = classification_data(seed + 1000, n=64, dtype=dtype)
    loss = nn.functional.cross_entropy
    return Problem(
        model,
        lambda opt: _closure(model, opt, lambda: loss(model(x), y)),
        lambda opt: _closure(model, opt, lambda: loss(model(xv), yv)),
    )


# Hyperparameters that make every variant well behaved on the small problems.
TEST_HPARAMS: dict[str, dict] = {
    "asam": {"rho": 0.1},
    "lets-asam": {"rho": 0.1},
}


def build(name: str, model: nn.Module, *, lr: float = 0.05, seed: int = 0, foreach: bool | None = None, **hp):
    """``name`` as a trainer builds it (``seed`` seeds the generator it sets); ``hp`` overrides anything."""
    trainer_set = trainer_hyperparameters(name, steps_per_epoch=1, generator=torch.Generator().manual_seed(seed))
    hparams = {**trainer_set, **TEST_HPARAMS.get(name, {}), **hp}
    return create_optimizer(name, model.parameters(), lr=lr, foreach=foreach, **hparams)


def do_step(opt: torch.optim.Optimizer, problem: Problem) -> Tensor:
    closure = problem.closure_for(opt)
    if isinstance(opt, LETS):
        return opt.step(closure, problem.val_closure_for(opt))
    return opt.step(closure)


def snapshot(model: nn.Module) -> list[Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]
