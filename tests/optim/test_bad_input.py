"""Bad hyperparameters raise ValueError naming the value; a failing closure leaves the clean point."""

from __future__ import annotations

import pytest
import torch

from pipeline.optim import ASAM, FSAM, LETS, MPSAM, SAM, XSAM, create_optimizer, list_optimizers
from tests.optim.problems import Problem, build, do_step, two_layer_net


def _sgd():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=0.1)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SAM(_sgd(), rho=0.0), r"rho must be > 0, got rho=0\.0"),
        (lambda: SAM(_sgd(), rho=-0.1), r"rho=-0\.1"),
        (lambda: ASAM(_sgd(), rho=-1.0), r"rho=-1\.0"),
        (lambda: ASAM(_sgd(), eta=-0.5), r"eta=-0\.5"),
        (lambda: MPSAM(_sgd(), strategy="spiral"), r"unknown strategy 'spiral'.*gradient, random, mixed"),
        (lambda: MPSAM(_sgd(), n_perturbations=0), r"n_perturbations=0"),
        (lambda: MPSAM(_sgd(), n_perturbations=2.5), r"n_perturbations=2\.5"),
        (lambda: FSAM(_sgd(), sigma=1.5), r"sigma must lie in \[0, 1\], got sigma=1\.5"),
        (lambda: FSAM(_sgd(), lmbda=-0.1), r"lmbda=-0\.1"),
        (lambda: XSAM(_sgd(), rho=0.0), r"rho=0\.0"),
        (lambda: XSAM(_sgd(), steps=0), r"steps=0"),
        (lambda: XSAM(_sgd(), search_every=0), r"search_every=0"),
        (lambda: XSAM(_sgd(), rho_max=-2.0), r"rho_max=-2\.0"),
        (lambda: XSAM(_sgd(), alpha_grid=[]), r"alpha_grid"),
        (lambda: LETS(SAM(_sgd()), rho_min=0.5, rho_max=0.1), r"rho_min \(0\.5\) must not exceed rho_max \(0\.1\)"),
        (lambda: LETS(SAM(_sgd()), rho_lr=0.0), r"rho_lr=0\.0"),
        (lambda: LETS(SAM(_sgd()), hessian="full"), r"unknown hessian 'full'.*diagonal"),
        (lambda: LETS(SAM(_sgd()), update_every=0), r"update_every=0"),
        (lambda: LETS(SAM(_sgd(), rho=0.05), rho_min=0.1, rho_max=1.0), r"rho \(0\.05\) must lie in"),
        (
            lambda: create_optimizer("samm", [torch.nn.Parameter(torch.zeros(2))], lr=0.1),
            r"unknown optimizer 'samm'; valid names: sgd, sam, asam, mpsam, fsam, xsam, lets-sam",
        ),
        (
            lambda: create_optimizer("sam", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, sigma=0.5),
            r"optimizer 'sam' does not take sigma; it takes: rho",
        ),
        (
            lambda: create_optimizer("sgd", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, rho=0.5),
            r"optimizer 'sgd' does not take rho",
        ),
        (
            lambda: create_optimizer("lets-fsam", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, n_perturbations=3),
            r"does not take n_perturbations; it takes: .*rho_lr",
        ),
        (
            lambda: create_optimizer("sam", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, base="lion"),
            r"unknown base optimizer 'lion'; valid bases: sgd, adamw",
        ),
        # a misspelt name or key: the nearest valid one
        (lambda: create_optimizer("samm", [torch.nn.Parameter(torch.zeros(2))], lr=0.1), r"did you mean 'sam'\?"),
        (
            lambda: create_optimizer("fsam", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, sigmaa=0.5),
            r"does not take sigmaa; .*did you mean 'sigma'\?",
        ),
        (lambda: LETS(SAM(_sgd()), hessian="diagonl"), r"did you mean 'diagonal'\?"),
        (lambda: MPSAM(_sgd(), strategy="mixd"), r"did you mean 'mixed'\?"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_the_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrapping_errors_are_type_errors():
    with pytest.raises(TypeError, match=r"already-built torch\.optim\.Optimizer"):
        SAM([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(TypeError, match="not another SAM-family optimizer"):
        SAM(SAM(_sgd()))
    with pytest.raises(TypeError, match="LETS wraps a SAM-family optimizer"):
        LETS(_sgd())


def test_step_without_closure_explains_the_protocol():
    with pytest.raises(ValueError, match="needs a closure"):
        SAM(_sgd()).step()
    with pytest.raises(ValueError, match="val_closure"):
        LETS(SAM(_sgd())).step(lambda: torch.zeros(()))


def test_create_optimizer_routes_each_hyperparameter_to_its_layer():
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = create_optimizer("lets-fsam", params, lr=0.1, momentum=0.8, rho=0.07, sigma=0.5, rho_lr=0.02, update_every=3)
    assert isinstance(opt, LETS) and isinstance(opt.inner, FSAM)
    assert (opt.rho_lr, opt.update_every, opt.inner.sigma) == (0.02, 3, 0.5)
    assert opt.rho == pytest.approx(0.07) and opt.rho_max == pytest.approx(0.7)
    assert opt.inner.base.param_groups[0]["momentum"] == 0.8
    lets_xsam = create_optimizer("lets-xsam", params, lr=0.1, rho_max=1.0, steps=2)
    assert lets_xsam.rho_max == 1.0 and lets_xsam.inner.rho_max is None and lets_xsam.inner.steps == 2
    adamw = create_optimizer("sam", params, lr=1e-3, base="adamw", momentum=0.85, weight_decay=0.01)
    assert isinstance(adamw.base, torch.optim.AdamW) and adamw.base.param_groups[0]["betas"] == (0.85, 0.999)


class _FailingAt:
    """A closure wrapper that raises at the given call number (0 is the clean pass)."""

    def __init__(self, inner, fail_at: int) -> None:
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def __call__(self):
        call, self.calls = self.calls, self.calls + 1
        if call == self.fail_at:
            raise RuntimeError("injected failure")
        return self.inner()


def _training_closure_calls(name: str) -> int:
    """Closure calls per step of the rules as built below (XSAM searches every step: 21 probes)."""
    rule = name.removeprefix("lets-")
    return {"sam": 2, "asam": 2, "fsam": 2, "mpsam": 4, "xsam": 2 + 21}[rule]


_FAILURES = [
    (name, where, at)
    for name in list_optimizers()
    if name != "sgd"
    for where, at in [("train", at) for at in sorted({1, _training_closure_calls(name) - 1})]
    + ([("val", 0)] if name.startswith("lets-") else [])
]


@pytest.mark.parametrize("name, where, fail_at", _FAILURES)
def test_closure_raising_in_an_extra_pass_leaves_the_clean_point(name, where, fail_at):
    problem = two_layer_net(batchnorm=True)
    opt = build(name, problem.model, n_perturbations=3) if "mpsam" in name else build(name, problem.model)
    do_step(opt, problem)  # some history first (EMA, LETS sensitivity, ...)
    do_step(opt, problem)
    clean = [p.detach().clone() for p in problem.model.parameters()]
    train_fail, val_fail = (fail_at, -1) if where == "train" else (-1, fail_at)
    failing = Problem(
        problem.model,
        lambda o: _FailingAt(problem.closure_for(o), train_fail),
        lambda o: _FailingAt(problem.val_closure_for(o), val_fail),
    )
    with pytest.raises(RuntimeError, match="injected failure"):
        do_step(opt, failing)
    for a, b in zip(problem.model.parameters(), clean, strict=False):
        assert torch.equal(a.detach(), b)
    # The optimizer is still usable afterwards.
    do_step(opt, problem)
    assert all(torch.isfinite(p).all() for p in problem.model.parameters())
