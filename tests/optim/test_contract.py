"""The contract every registry name keeps (timm-style: one file, parametrised over the registry)."""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
from torch import nn

from pipeline.optim import LETS, bn_update_once_per_step, list_optimizers
from tests.optim.problems import (
    Problem,
    _closure,
    base_of,
    build,
    classification_data,
    do_step,
    quadratic,
    snapshot,
    two_layer_net,
)

NAMES = list_optimizers()

# Per-parameter state a registry optimizer may legitimately carry between steps. Anything else with a
# parameter's shape in a state_dict would be a perturbation buffer or a parameter copy.
ALLOWED_STATE_KEYS = {"momentum_buffer", "exp_avg", "exp_avg_sq", "grad_ema", "rho_sensitivity"}


def test_registry_has_every_spec_name():
    assert NAMES == [
        "sgd",
        "sam",
        "asam",
        "mpsam",
        "fsam",
        "xsam",
        "lets-sam",
        "lets-asam",
        "lets-fsam",
        "lets-xsam",
        "lets-mpsam",
    ]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "make_problem, lr, shrink",
    [(quadratic, 0.05, 0.05), (two_layer_net, 0.1, 0.7)],
    ids=["quadratic", "two_layer_net"],
)
def test_loss_falls(name, make_problem, lr, shrink):
    problem = make_problem()
    opt = build(name, problem.model, lr=lr)
    first = float(do_step(opt, problem).detach())
    for _ in range(60):
        last = float(do_step(opt, problem).detach())
    assert last < shrink * first, (first, last)


def _save_and_load(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    problem = two_layer_net(batchnorm=True)
    opt = build(name, problem.model, seed=1)
    bn_update_once_per_step(opt, problem.model)
    for _ in range(20):
        do_step(opt, problem)

    twin = two_layer_net(batchnorm=True)
    twin.model.load_state_dict(problem.model.state_dict())
    twin_opt = build(name, twin.model, seed=999)  # a different generator seed: the state must carry it
    bn_update_once_per_step(twin_opt, twin.model)
    twin_opt.load_state_dict(_save_and_load(opt.state_dict()))

    for _ in range(20):
        do_step(opt, problem)
        do_step(twin_opt, twin)
    for a, b in zip(snapshot(problem.model), snapshot(twin.model), strict=False):
        assert torch.equal(a, b)
    if isinstance(opt, LETS):
        assert opt.rho == twin_opt.rho


def _param_shaped_tensors(obj, shapes, path=""):
    """(path, tensor) for every tensor in a nested state_dict whose shape is a parameter's shape."""
    if isinstance(obj, torch.Tensor):
        return [(path, obj)] if tuple(obj.shape) in shapes and obj.dim() > 0 else []
    if isinstance(obj, dict):
        return [hit for k, v in obj.items() for hit in _param_shaped_tensors(v, shapes, f"{path}/{k}")]
    if isinstance(obj, (list, tuple)):
        return [hit for i, v in enumerate(obj) for hit in _param_shaped_tensors(v, shapes, f"{path}/{i}")]
    return []


@pytest.mark.parametrize("name", NAMES)
def test_no_perturbation_buffer_survives(name):
    problem = two_layer_net()
    opt = build(name, problem.model)
    for _ in range(3):
        do_step(opt, problem)
    shapes = {tuple(p.shape) for p in problem.model.parameters()}
    hits = _param_shaped_tensors(opt.state_dict(), shapes)
    assert hits, "the base optimizer's momentum buffers at least should be there"
    for path, _ in hits:
        assert path.rsplit("/", 1)[-1] in ALLOWED_STATE_KEYS, f"unexpected parameter-sized state at {path}"
    # Nor on the SAM-family layers' own attributes (a perturbation kept between steps, a parameter copy).
    for layer in {opt, getattr(opt, "inner", opt)} - {base_of(opt)}:
        kept = {k: v for k, v in vars(layer).items() if k != "state" and _param_shaped_tensors(v, shapes)}
        assert not kept, f"{type(layer).__name__} keeps parameter-sized tensors between steps: {sorted(kept)}"


class _BaseStepSpy:
    """Records the parameters as the base optimizer's step starts."""

    def __init__(self, opt: torch.optim.Optimizer, model: nn.Module) -> None:
        self.model = model
        self.seen: list[list[torch.Tensor]] = []
        base_of(opt).register_step_pre_hook(lambda *_: self.seen.append(self.params()))

    def params(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.model.parameters()]


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_restored_bit_for_bit_before_the_base_step(name):
    problem = two_layer_net(batchnorm=True)
    opt = build(name, problem.model)
    spy = _BaseStepSpy(opt, problem.model)
    for step in range(4):
        before = spy.params()
        do_step(opt, problem)
        assert len(spy.seen) == step + 1  # one base step per step
        for a, b in zip(spy.seen[step], before, strict=False):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_batchnorm_running_stats_move_once_per_step(name):
    problem = two_layer_net(batchnorm=True)
    bn = problem.model[1]
    opt = build(name, problem.model)
    bn_update_once_per_step(opt, problem.model)
    x, _ = classification_data(0)
    for step in range(1, 4):
        expected = copy.deepcopy(problem.model)
        expected(x)  # exactly one clean training-mode forward
        do_step(opt, problem)
        assert int(bn.num_batches_tracked) == step
        torch.testing.assert_close(bn.running_mean, expected[1].running_mean, rtol=0, atol=0)
        torch.testing.assert_close(bn.running_var, expected[1].running_var, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_foreach_and_loop_paths_agree(name):
    results = []
    for foreach in (True, False):
        problem = two_layer_net(batchnorm=True, dtype=torch.float64)
        opt = build(name, problem.model, foreach=foreach, seed=3)
        bn_update_once_per_step(opt, problem.model)
        for _ in range(6):
            do_step(opt, problem)
        results.append(snapshot(problem.model))
    for a, b in zip(*results, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


class _SometimesUnused(nn.Module):
    """A net with a parameter that gets a gradient only in the calls ``uses_extra`` allows."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(10, 3)
        self.extra = nn.Parameter(torch.randn(3))
        self.calls = 0
        self.uses_extra = lambda call: True

    def forward(self, x):
        use = self.uses_extra(self.calls)
        self.calls += 1
        out = self.body(x)
        return out + self.extra if use else out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pattern", ["clean_only", "perturbed_only"])
def test_parameter_without_gradient_in_a_pass_is_restored(name, pattern):
    model = _SometimesUnused()
    x, y = classification_data(0)
    problem = Problem(
        model,
        lambda opt: _closure(model, opt, lambda: nn.functional.cross_entropy(model(x), y)),
        lambda opt: _closure(model, opt, lambda: nn.functional.cross_entropy(model(x), y)),
    )
    opt = build(name, model)
    spy = _BaseStepSpy(opt, model)
    for step in range(3):
        model.calls = 0
        # clean_only: the parameter is perturbed after the clean pass, then gets no gradient later.
        model.uses_extra = (lambda c: c == 0) if pattern == "clean_only" else (lambda c: c > 0)
        before = spy.params()
        do_step(opt, problem)
        for a, b in zip(spy.seen[step], before, strict=False):
            assert torch.equal(a, b)
        assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_lr_scheduler_on_the_base_optimizer(name):
    problem = two_layer_net()
    opt = build(name, problem.model, lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(base_of(opt), lambda epoch: 1.0 if epoch < 3 else 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
        for _ in range(3):
            moved = snapshot(problem.model)
            do_step(opt, problem)
            assert any(not torch.equal(a, b) for a, b in zip(moved, snapshot(problem.model), strict=False))
            scheduler.step()
    assert opt.param_groups[0]["lr"] == 0.0  # the wrapper sees the base's groups
    frozen = snapshot(problem.model)
    for _ in range(2):
        do_step(opt, problem)
    for a, b in zip(frozen, snapshot(problem.model), strict=False):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_deepcopy_of_model_and_optimizer_continues_identically(name):
    problem = two_layer_net(batchnorm=True)
    opt = build(name, problem.model)
    bn_update_once_per_step(opt, problem.model)  # the copy must freeze its own layers, not the original's
    for _ in range(3):
        do_step(opt, problem)
    model2, opt2 = copy.deepcopy((problem.model, opt))
    x, y = classification_data(0)
    xv, yv = classification_data(1000, n=64)
    twin = Problem(
        model2,
        lambda o: _closure(model2, o, lambda: nn.functional.cross_entropy(model2(x), y)),
        lambda o: _closure(model2, o, lambda: nn.functional.cross_entropy(model2(xv), yv)),
    )
    assert base_of(opt2).param_groups[0]["params"][0] is next(model2.parameters())
    for _ in range(3):
        do_step(opt, problem)
        do_step(opt2, twin)
    for a, b in zip(snapshot(problem.model), snapshot(model2), strict=False):  # parameters and BatchNorm buffers
        assert torch.equal(a, b)
    assert int(model2[1].num_batches_tracked) == 6
