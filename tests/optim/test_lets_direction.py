"""Which d_hat each rule reports to LETS (docs/algorithms.md, LETS, "Which d_hat each inner rule reports").

- MP-SAM reports the weighted mean of its perturbations, ``sum_i w_i eps_i / rho`` with the weights of its
  update (``1/n``, or the adaptive ones), not its last perturbation: checked on the displacement the rule
  returns, on the sensitivity LETS stores from it, and on LETS-MP-SAM's radius against the reference.
- ``lets-xsam`` with ``hessian: finite_difference`` is refused: XSAM's update is no gradient at
  ``theta + rho d_hat``.
"""

from __future__ import annotations

import copy

import pytest
import torch

import pipeline.optim as po
from tests.optim import reference_rules as ref
from tests.optim.test_rules_exact import GEN_SEED, PROBLEMS, _closure, _sgd, run_side_by_side

MPSAM_SETTINGS = [
    ("mixed", 5, False),
    ("mixed", 5, True),
    ("gradient", 4, True),
    ("random", 3, False),
]
settings_param = pytest.mark.parametrize(
    "strategy, n, adaptive", MPSAM_SETTINGS, ids=[f"{s}-n{n}{'-adaptive' if a else ''}" for s, n, a in MPSAM_SETTINGS]
)
problem_param = pytest.mark.parametrize(
    "problem", [PROBLEMS["logistic"], PROBLEMS["mlp_bn"]], ids=["logistic", "mlp_bn"]
)
RHO = 0.1


def _reference_first_step(problem, hp):
    """The reference MP-SAM rule's first step on its own model copy: ``(g_tilde, d_hat, weights, eps_last)``."""
    ref_model = problem.make_model()
    oracle = ref.Oracle(ref_model, problem.loss_fn, _sgd(problem, ref_model))
    rule = ref.MPSAMRule(**hp, generator=torch.Generator().manual_seed(GEN_SEED))
    loss0, g = oracle.clean_pass(problem.train[0])
    theta = oracle.point()
    captured = {}
    original = rule._eps_r

    def eps_r(theta_, rho):  # remember the last random draw, to show it is not what is reported
        captured["last"] = original(theta_, rho)
        return captured["last"]

    rule._eps_r = eps_r
    g_tilde, d_hat = rule.update(oracle, theta, loss0, g, problem.train[0], RHO)
    return g_tilde, d_hat, rule.weights_history[-1], captured.get("last")


@problem_param
@settings_param
@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
def test_mpsam_reports_the_weighted_mean_of_its_perturbations(problem, strategy, n, adaptive, foreach):
    hp = {"rho": RHO, "n_perturbations": n, "strategy": strategy, "adaptive": adaptive}
    model = problem.make_model()
    rule = po.MPSAM(_sgd(problem, model), foreach=foreach, **hp, generator=torch.Generator().manual_seed(GEN_SEED))
    po.bn_update_once_per_step(rule, model)
    closure = _closure(rule, model, problem.loss_fn, problem.train[0])
    loss = rule.clean_pass(closure)
    params = rule.participating_params()
    displacement = rule.compute_update(closure, loss, params, RHO)
    update = [p.grad.clone() for p in params]
    rule.finish_step()

    g_tilde, d_hat, weights, _ = _reference_first_step(problem, hp)
    for got, expected in zip(update, g_tilde, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    for got, expected in zip(displacement(), d_hat, strict=True):
        torch.testing.assert_close(got, RHO * expected, rtol=1e-10, atol=1e-12)
    if adaptive:  # not the plain mean: the weights really differ from 1/n
        assert max(weights) - min(weights) > 1e-3


@problem_param
@pytest.mark.parametrize("hessian", ["identity", "diagonal"])
def test_lets_mpsam_sensitivity_uses_the_weighted_mean(problem, hessian):
    """``u_0 = -lr * H d_hat`` with MP-SAM's weighted-mean ``d_hat``, and not with its last perturbation."""
    hp = {"rho": RHO, "n_perturbations": 5, "strategy": "mixed", "adaptive": True}
    model = problem.make_model()
    inner = po.MPSAM(_sgd(problem, model), **hp, generator=torch.Generator().manual_seed(GEN_SEED))
    lets = po.LETS(inner, hessian=hessian)
    po.bn_update_once_per_step(lets, model)
    params = [p for group in lets.param_groups for p in group["params"]]
    lrs = [group["lr"] for group in lets.param_groups for _ in group["params"]]
    lets.step(
        _closure(lets, model, problem.loss_fn, problem.train[0]), _closure(lets, model, problem.loss_fn, problem.val[0])
    )

    g_tilde, d_hat, _, eps_last = _reference_first_step(problem, hp)
    assert eps_last is not None
    for p, lr, gt, d, last in zip(params, lrs, g_tilde, d_hat, eps_last, strict=True):
        h = gt * gt if hessian == "diagonal" else torch.ones_like(gt)
        u = lets.state[p][po.lets.SENSITIVITY_KEY]
        torch.testing.assert_close(u, -lr * h * d, rtol=1e-8, atol=1e-14)
        if p.dim() > 1:  # the old report, the last perturbation, is something else
            assert not torch.allclose(u, -lr * h * last / RHO, rtol=1e-3, atol=1e-9)


LETS_MPSAM_CASES = {
    "mixed-diag": ({"n_perturbations": 5, "strategy": "mixed"}, {"hessian": "diagonal", "rho_lr": 0.1}),
    "gradient-adaptive-identity": (
        {"n_perturbations": 4, "strategy": "gradient", "adaptive": True},
        {"hessian": "identity", "rho_lr": 0.1},
    ),
    "random-diag-every2": (
        {"n_perturbations": 3, "strategy": "random"},
        {"hessian": "diagonal", "rho_lr": 0.1, "update_every": 2},
    ),
}


@pytest.mark.parametrize("problem", list(PROBLEMS.values()), ids=list(PROBLEMS))
@pytest.mark.parametrize("case", list(LETS_MPSAM_CASES))
def test_lets_mpsam_radius_matches_the_reference(problem, case):
    """LETS-MP-SAM's radius, step by step, against the reference with the weighted-mean ``d_hat``."""
    hp, lets = LETS_MPSAM_CASES[case]
    opt, driver, _ = run_side_by_side(problem, "mpsam", {"rho": RHO, **hp}, foreach=True, lets=lets)
    assert driver.rho != RHO and opt.rho != RHO


def test_lets_mpsam_gradient_n1_is_lets_sam_bitwise():
    """With one gradient perturbation the weighted mean is that perturbation: LETS-MP-SAM is LETS-SAM."""
    problem = PROBLEMS["mlp_bn"]
    runs = []
    for name, hp in [("sam", {}), ("mpsam", {"n_perturbations": 1, "strategy": "gradient"})]:
        model = problem.make_model()
        inner = (po.SAM if name == "sam" else po.MPSAM)(_sgd(problem, model), rho=RHO, **hp)
        opt = po.LETS(inner, rho_lr=0.1)
        po.bn_update_once_per_step(opt, model)
        for t in range(4):
            opt.step(
                _closure(opt, model, problem.loss_fn, problem.train[t]),
                _closure(opt, model, problem.loss_fn, problem.val[t % len(problem.val)]),
            )
        runs.append((copy.deepcopy(model.state_dict()), opt.rho))
    (sam_state, sam_rho), (mpsam_state, mpsam_rho) = runs
    assert sam_rho == mpsam_rho != RHO
    for key, value in sam_state.items():
        assert torch.equal(value, mpsam_state[key]), key


@pytest.mark.parametrize("steps", [1, 2])
def test_lets_xsam_refuses_finite_difference(steps):
    params = [torch.nn.Parameter(torch.zeros(3))]
    message = r"hessian='finite_difference' does not apply to XSAM.*use hessian='diagonal'.*or hessian='identity'"
    with pytest.raises(ValueError, match=message):
        po.create_optimizer("lets-xsam", params, lr=0.1, hessian="finite_difference", steps=steps)
    with pytest.raises(ValueError, match=message):
        po.LETS(po.XSAM(torch.optim.SGD(params, lr=0.1)), hessian="finite_difference")
    for hessian in ("diagonal", "identity"):
        po.create_optimizer("lets-xsam", params, lr=0.1, hessian=hessian, steps=steps)


@pytest.mark.parametrize("name", ["lets-sam", "lets-asam", "lets-fsam", "lets-mpsam"])
def test_finite_difference_stays_available_where_the_update_is_a_perturbed_gradient(name):
    po.create_optimizer(name, [torch.nn.Parameter(torch.zeros(3))], lr=0.1, hessian="finite_difference")
