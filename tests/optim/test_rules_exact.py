"""Exactness tests: pipeline.optim against the independent reference in reference_rules.py.

Every comparison runs the implementation and the reference side by side, step by
step, in float64, on three problems (a quadratic, a logistic regression and a small
MLP with BatchNorm), and checks after every step: the loss returned by step(), all
parameters, BatchNorm running statistics and, for LETS, the trajectory of rho.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import pipeline.optim as po
from tests.optim import reference_rules as ref

N_STEPS = 6
RTOL, ATOL = 1e-6, 1e-10
IMPL = {"sam": po.SAM, "asam": po.ASAM, "mpsam": po.MPSAM, "fsam": po.FSAM, "xsam": po.XSAM}
GEN_SEED = 1234


# --------------------------------------------------------------------------- problems
@dataclasses.dataclass
class Problem:
    name: str
    make_model: Callable[[], nn.Module]
    loss_fn: Callable[[nn.Module, object], torch.Tensor]
    train: list
    val: list
    groups: Callable[[nn.Module], list]  # param groups for the base SGD


def _one_group(model):
    return [{"params": list(model.parameters())}]


class QuadModel(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, generator=gen, dtype=torch.float64))
        self.m = nn.Parameter(torch.randn(2, 3, generator=gen, dtype=torch.float64))

    def flat(self):
        return torch.cat([self.w, self.m.reshape(-1)])


def _quad_loss(model, batch):
    A, b = batch
    th = model.flat()
    return 0.5 * th @ A @ th - b @ th


def quadratic():
    gen = torch.Generator().manual_seed(0)
    dim = 10
    base = torch.randn(dim, dim, generator=gen, dtype=torch.float64)
    A0 = base @ base.T / dim + 0.3 * torch.eye(dim, dtype=torch.float64)

    def batch():
        noise = 0.2 * torch.randn(dim, dim, generator=gen, dtype=torch.float64)
        return A0 + (noise + noise.T) / 2, torch.randn(dim, generator=gen, dtype=torch.float64)

    train = [batch() for _ in range(N_STEPS)]
    val = [batch() for _ in range(3)]
    return Problem("quadratic", lambda: QuadModel(torch.Generator().manual_seed(1)), _quad_loss, train, val, _one_group)


def _bce_loss(model, batch):
    x, y = batch
    return F.binary_cross_entropy_with_logits(model(x).squeeze(-1), y)


def logistic():
    gen = torch.Generator().manual_seed(2)
    w_true = torch.randn(5, generator=gen, dtype=torch.float64)

    def batch():
        x = torch.randn(16, 5, generator=gen, dtype=torch.float64)
        p = torch.sigmoid(2 * x @ w_true)
        return x, torch.bernoulli(p, generator=gen)

    train = [batch() for _ in range(N_STEPS)]
    val = [batch() for _ in range(3)]

    def make_model():
        torch.manual_seed(3)
        return nn.Linear(5, 1).double()

    return Problem("logistic", make_model, _bce_loss, train, val, _one_group)


def _ce_loss(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y)


def _mlp_groups(model):
    # Two groups with different lr / weight decay, weights first: exercises the
    # global norm across groups, the per-group lr of LETS, and param_groups order.
    weights = [p for p in model.parameters() if p.dim() > 1]
    others = [p for p in model.parameters() if p.dim() <= 1]
    return [{"params": weights}, {"params": others, "lr": 0.03, "weight_decay": 0.0}]


def mlp_bn():
    gen = torch.Generator().manual_seed(4)

    def batch():
        x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
        y = torch.randint(0, 3, (16,), generator=gen)
        return x, y

    train = [batch() for _ in range(N_STEPS)]
    val = [batch() for _ in range(3)]

    def make_model():
        torch.manual_seed(5)
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()

    return Problem("mlp_bn", make_model, _ce_loss, train, val, _mlp_groups)


PROBLEMS = {p.name: p for p in (quadratic(), logistic(), mlp_bn())}


# --------------------------------------------------------------------------- harness
def _sgd(problem, model, lr=0.05, momentum=0.9, weight_decay=1e-3):
    return torch.optim.SGD(problem.groups(model), lr=lr, momentum=momentum, weight_decay=weight_decay)


def _build_impl_inner(problem, model, variant, hp, foreach, **sgd_kw):
    hp = dict(hp)
    if variant == "mpsam":
        hp["generator"] = torch.Generator().manual_seed(GEN_SEED)
    return IMPL[variant](_sgd(problem, model, **sgd_kw), foreach=foreach, **hp)


def _build_ref_rule(variant, hp):
    hp = dict(hp)
    if variant == "mpsam":
        hp["generator"] = torch.Generator().manual_seed(GEN_SEED)
    return ref.RULES[variant](**hp)


def _closure(opt, model, loss_fn, batch):
    def closure():
        opt.zero_grad()
        loss = loss_fn(model, batch)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    return closure


def _float_buffers(model):
    # running_mean / running_var; num_batches_tracked is checked in its own test.
    return {n: b for n, b in model.named_buffers() if b.is_floating_point()}


def _assert_models_close(impl_model, ref_model, t):
    for (name, p), (_, q) in zip(impl_model.named_parameters(), ref_model.named_parameters(), strict=False):
        torch.testing.assert_close(
            p.detach(), q.detach(), rtol=RTOL, atol=ATOL, msg=lambda m, name=name: f"step {t}, param {name}: {m}"
        )
    ref_bufs = _float_buffers(ref_model)
    for name, b in _float_buffers(impl_model).items():
        torch.testing.assert_close(
            b, ref_bufs[name], rtol=RTOL, atol=ATOL, msg=lambda m, name=name: f"step {t}, buffer {name}: {m}"
        )


def run_side_by_side(problem, variant, hp, foreach, lets=None, n_steps=N_STEPS, **sgd_kw):
    """Run implementation and reference in lockstep; compare after every step.

    Returns (implementation optimizer, reference driver, models)."""
    model = problem.make_model()
    ref_model = copy.deepcopy(model)
    model.train()

    opt = _build_impl_inner(problem, model, variant, hp, foreach, **sgd_kw)
    rule = _build_ref_rule(variant, hp)
    oracle = ref.Oracle(ref_model, problem.loss_fn, _sgd(problem, ref_model, **sgd_kw))
    if lets is None:
        driver = ref.Reference(oracle, rule)
    else:
        opt = po.LETS(opt, **lets)
        driver = ref.LETSReference(oracle, rule, **lets)
    po.bn_update_once_per_step(opt, model)

    for t in range(n_steps):
        batch, val_batch = problem.train[t], problem.val[t % len(problem.val)]
        closure = _closure(opt, model, problem.loss_fn, batch)
        if lets is None:
            loss = opt.step(closure)
        else:
            loss = opt.step(closure, _closure(opt, model, problem.loss_fn, val_batch))
        ref_loss = driver.step(batch, val_batch)
        torch.testing.assert_close(
            torch.as_tensor(loss).detach(),
            ref_loss,
            rtol=RTOL,
            atol=ATOL,
            msg=lambda m, t=t: f"step {t}, returned loss: {m}",
        )
        if lets is not None:
            assert opt.rho == pytest.approx(driver.rho, rel=RTOL), (
                f"step {t}: LETS.rho {opt.rho} != reference {driver.rho}"
            )
        _assert_models_close(model, ref_model, t)
    return opt, driver, (model, ref_model)


# --------------------------------------------------------------------------- cases
VARIANT_CASES = {
    "sam": ("sam", dict(rho=0.1)),
    "asam": ("asam", dict(rho=0.5)),
    "asam-eta": ("asam", dict(rho=0.3, eta=0.01)),
    "fsam": ("fsam", dict(rho=0.1)),
    "fsam-adaptive": ("fsam", dict(rho=0.1, sigma=0.5, lmbda=0.8, adaptive=True)),
    "xsam-k1": ("xsam", dict(rho=0.15)),
    "xsam-k2-every3": ("xsam", dict(rho=0.15, steps=2, search_every=3)),
    "xsam-k2-grid": ("xsam", dict(rho=0.15, steps=2, rho_max=0.4, alpha_grid=[0.0, 0.5, 1.0, 1.5])),
    "xsam-static-k1": ("xsam", dict(rho=0.15, dynamic=False)),
    "xsam-static-k2": ("xsam", dict(rho=0.15, steps=2, dynamic=False, alpha=0.5)),
}
for _strategy, _n in (("mixed", 5), ("gradient", 4), ("random", 3)):
    for _adaptive in (False, True):
        VARIANT_CASES[f"mpsam-{_strategy}{'-adaptive' if _adaptive else ''}"] = (
            "mpsam",
            dict(rho=0.1, n_perturbations=_n, strategy=_strategy, adaptive=_adaptive),
        )

LETS_CASES = {
    f"lets-sam-{h}-every{u}": ("sam", dict(rho=0.1), dict(hessian=h, update_every=u, rho_lr=0.1))
    for h in ("diagonal", "finite_difference", "identity")
    for u in (1, 2)
}
LETS_CASES.update(
    {
        # Large rho_lr and a tight box: rho is clipped at rho_max / rho_min.
        "lets-sam-clipped": ("sam", dict(rho=0.1), dict(hessian="identity", rho_lr=0.5, rho_min=0.09, rho_max=0.12)),
        "lets-asam-fd": ("asam", dict(rho=0.5), dict(hessian="finite_difference", rho_lr=0.1)),
        "lets-fsam-diag": ("fsam", dict(rho=0.1), dict(hessian="diagonal", rho_lr=0.1)),
        "lets-fsam-fd": ("fsam", dict(rho=0.1), dict(hessian="finite_difference", rho_lr=0.1, update_every=2)),
        "lets-xsam-k2-diag": ("xsam", dict(rho=0.15, steps=2), dict(hessian="diagonal", rho_lr=0.1)),
        "lets-xsam-identity": ("xsam", dict(rho=0.15), dict(hessian="identity", rho_lr=0.1)),
        "lets-mpsam-adaptive": (
            "mpsam",
            dict(rho=0.1, n_perturbations=3, adaptive=True),
            dict(hessian="identity", rho_lr=0.1),
        ),
    }
)

problem_param = pytest.mark.parametrize("problem", list(PROBLEMS.values()), ids=list(PROBLEMS))
foreach_param = pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])


# --------------------------------------------------------------------------- tests
@foreach_param
@problem_param
@pytest.mark.parametrize("case", list(VARIANT_CASES), ids=list(VARIANT_CASES))
def test_variant_matches_reference(case, problem, foreach):
    variant, hp = VARIANT_CASES[case]
    _, driver, _ = run_side_by_side(problem, variant, hp, foreach)
    if variant == "xsam" and hp.get("dynamic", True):
        assert len(driver.rule.alpha_history) == N_STEPS


@foreach_param
@problem_param
@pytest.mark.parametrize("case", list(LETS_CASES), ids=list(LETS_CASES))
def test_lets_matches_reference(case, problem, foreach):
    variant, hp, lets = LETS_CASES[case]
    opt, driver, _ = run_side_by_side(problem, variant, hp, foreach, lets=lets)
    # Guard against a vacuous comparison: rho must actually have moved.
    assert driver.rho != hp["rho"] and opt.rho != hp["rho"]
    expected_updates = len([t for t in range(1, N_STEPS) if t % lets.get("update_every", 1) == 0])
    assert driver.n_updates == expected_updates


def _side_by_side(problem, foreach, *variants):
    """One fresh model and implementation optimizer per (variant, hparams), for identity tests."""
    models, opts = [], []
    for variant, hp in variants:
        model = problem.make_model()
        model.train()
        opt = _build_impl_inner(problem, model, variant, hp, foreach)
        po.bn_update_once_per_step(opt, model)
        models.append(model)
        opts.append(opt)
    return models, opts


@foreach_param
@problem_param
def test_mpsam_gradient_n1_is_sam_bitwise(problem, foreach):
    rho = 0.1
    models, opts = _side_by_side(
        problem,
        foreach,
        ("sam", dict(rho=rho)),
        ("mpsam", dict(rho=rho, n_perturbations=1, strategy="gradient", adaptive=False)),
    )
    for t in range(N_STEPS):
        losses = [
            opt.step(_closure(opt, m, problem.loss_fn, problem.train[t])) for opt, m in zip(opts, models, strict=False)
        ]
        assert torch.equal(losses[0], losses[1]), f"step {t}: losses differ"
        for (name, p), (_, q) in zip(models[0].named_parameters(), models[1].named_parameters(), strict=False):
            assert torch.equal(p, q), f"step {t}: {name} differs (max {(p - q).abs().max()})"
        for (name, b), (_, c) in zip(models[0].named_buffers(), models[1].named_buffers(), strict=False):
            assert torch.equal(b, c), f"step {t}: buffer {name} differs"


@foreach_param
@problem_param
def test_xsam_static_k1_equals_sam(problem, foreach):
    rho = 0.1
    models, opts = _side_by_side(
        problem, foreach, ("sam", dict(rho=rho)), ("xsam", dict(rho=rho, steps=1, dynamic=False))
    )
    start = [p.detach().clone() for p in models[0].parameters()]
    for t in range(N_STEPS):
        for opt, m in zip(opts, models, strict=False):
            opt.step(_closure(opt, m, problem.loss_fn, problem.train[t]))
        _assert_models_close(models[1], models[0], t)
    assert any(not torch.equal(a, p) for a, p in zip(start, models[0].parameters(), strict=False))


def _concave_problem():
    """L = -1/2 |theta - c|^2 started at |theta - c| = r << rho.

    With rho >= 2r every perturbation of norm rho lands at distance >= r from c, so
    every perturbed loss is <= the clean loss and all adaptive weights are 0."""
    gen = torch.Generator().manual_seed(6)
    c = torch.randn(10, generator=gen, dtype=torch.float64)
    delta = torch.randn(10, generator=gen, dtype=torch.float64)
    delta = 0.01 * delta / delta.norm()

    def make_model():
        model = QuadModel(torch.Generator().manual_seed(7))
        with torch.no_grad():
            start = c + delta
            model.w.copy_(start[:4])
            model.m.copy_(start[4:].reshape(2, 3))
        return model

    def loss_fn(model, batch):
        return -0.5 * ((model.flat() - c) ** 2).sum()

    return Problem("concave", make_model, loss_fn, [None] * 3, [None], _one_group)


@foreach_param
@pytest.mark.parametrize("strategy", ["mixed", "gradient", "random"])
def test_mpsam_adaptive_all_zero_weights_fall_back_to_mean(strategy, foreach):
    problem = _concave_problem()
    hp = dict(rho=0.5, n_perturbations=5, strategy=strategy, adaptive=True)
    _, driver, (model, _) = run_side_by_side(
        problem, "mpsam", hp, foreach, n_steps=3, lr=0.01, momentum=0.0, weight_decay=0.0
    )
    # The fallback branch was really taken at every step, and the update was not zero.
    assert driver.rule.all_zero_history == [True, True, True]
    start = problem.make_model()
    moved = torch.cat([(p - q).reshape(-1) for p, q in zip(model.parameters(), start.parameters(), strict=False)])
    assert moved.abs().max() > 1e-4


@foreach_param
@pytest.mark.parametrize("grid", [None, [2.0, 1.5, 1.0, 0.5, 0.0]], ids=["default", "reversed"])
def test_xsam_alpha_search_ties_pick_first_maximiser(grid, foreach):
    # Forward-only probes run under no_grad; make every probe return the same loss, so
    # all grid points tie and alpha* must be the first grid entry.
    base = PROBLEMS["logistic"]

    def loss_fn(model, batch):
        loss = _bce_loss(model, batch)
        return loss if torch.is_grad_enabled() else torch.zeros((), dtype=loss.dtype)

    problem = dataclasses.replace(base, loss_fn=loss_fn)
    hp = dict(rho=0.15, steps=2, alpha_grid=grid)
    _, driver, _ = run_side_by_side(problem, "xsam", hp, foreach)
    first = 0.0 if grid is None else grid[0]
    assert driver.rule.alpha_history == [first] * N_STEPS


@pytest.mark.parametrize("case", ["sam", "asam", "mpsam-mixed", "fsam", "xsam-k2-every3"])
def test_bn_num_batches_tracked_once_per_step(case):
    variant, hp = VARIANT_CASES[case]
    problem = PROBLEMS["mlp_bn"]
    _, _, (model, ref_model) = run_side_by_side(problem, variant, hp, foreach=True)
    bn, ref_bn = model[1], ref_model[1]
    assert int(ref_bn.num_batches_tracked) == N_STEPS
    assert int(bn.num_batches_tracked) == N_STEPS, (
        f"num_batches_tracked={int(bn.num_batches_tracked)} after {N_STEPS} steps: "
        "BatchNorm state changed outside the clean pass"
    )
