"""The contract every registry name keeps: shapes, seeded initialisation that leaves global RNG alone,
gradients to every parameter, bf16 autocast, channels_last and torch.compile (one file, parametrised
over the registry)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pipeline.models import ModelConfig, build_model, list_models

# Small members of each family, so that the whole file runs in seconds.
SMALL = {
    "mlp": (ModelConfig(hidden=(16, 16), batchnorm=True, dropout=0.1, residual=True), (40,)),
    "cnn1d": (ModelConfig(name="cnn1d", channels=8), (40,)),
    "resnet18": (ModelConfig(name="resnet18"), (3, 8, 8)),
    "wrn": (ModelConfig(name="wrn", depth=10, width=1, dropout=0.3), (3, 8, 8)),
}
NUM_CLASSES = 7


def test_every_name_has_a_small_case():
    assert sorted(SMALL) == sorted(list_models())


def build_small(name: str, seed: int = 0) -> torch.nn.Module:
    cfg, shape = SMALL[name]
    return build_model(cfg, shape, NUM_CLASSES, seed)


def batch(name: str, n: int = 4) -> torch.Tensor:
    return torch.randn(n, *SMALL[name][1], generator=torch.Generator().manual_seed(123))


def state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", list_models())
def test_output_is_one_finite_logit_per_class(name):
    model = build_small(name)
    assert model.training
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    for m in (model, model.eval()):
        out = m(batch(name, 3))
        assert out.shape == (3, NUM_CLASSES) and out.dtype == torch.float32
        assert torch.isfinite(out).all()


def test_cnn1d_takes_n_l_and_n_1_l_alike():
    model = build_small("cnn1d").eval()
    x = batch("cnn1d")
    assert torch.equal(model(x), model(x.unsqueeze(1)))
    with pytest.raises(RuntimeError):  # a sequence of the wrong length is not folded into the batch
        model(torch.randn(4, 80))


@pytest.mark.parametrize("name", list_models())
def test_same_seed_same_weights_different_seed_different_weights(name):
    a, b, c = build_small(name, 3), build_small(name, 3), build_small(name, 4)
    assert state_equal(a, b)
    pa, pc = dict(a.named_parameters()), dict(c.named_parameters())
    # every randomly initialised weight differs (BatchNorm and biases set to constants may coincide)
    random_weights = [k for k in pa if k.endswith("weight") and pa[k].dim() > 1]
    assert random_weights and all(not torch.equal(pa[k], pc[k]) for k in random_weights)


@pytest.mark.parametrize("name", list_models())
def test_initialisation_ignores_and_keeps_the_global_rng(name):
    torch.manual_seed(1)
    a = build_small(name, 5)
    torch.manual_seed(2)
    random.seed(0)
    np.random.seed(0)
    torch_state, py_state, np_state = torch.get_rng_state(), random.getstate(), np.random.get_state()
    b = build_small(name, 5)
    assert state_equal(a, b)  # the global seed played no part
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert random.getstate() == py_state
    assert all(np.array_equal(x, y) for x, y in zip(np.random.get_state(), np_state, strict=False))


@pytest.mark.parametrize("name", list_models())
def test_every_parameter_gets_a_nonzero_gradient(name):
    # A parameter the loss does not reach (e.g. a bias just before BatchNorm) would sit idle under SAM.
    model = build_small(name)
    torch.nn.functional.cross_entropy(model(batch(name)), torch.arange(4) % NUM_CLASSES).backward()
    for param_name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", list_models())
def test_bf16_autocast_forward_and_backward(name):
    model = build_small(name)
    x = batch(name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    out.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    # bf16 logits stay close to the float32 ones
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x).float()
    with torch.no_grad():
        full = model(x)
    assert torch.allclose(low, full, atol=0.1 * full.abs().max().item() + 0.05)


@pytest.mark.parametrize("name", ["resnet18", "wrn"])
def test_channels_last_gives_the_same_logits(name):
    model = build_small(name).eval()
    x = batch(name)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_compiles_as_one_graph_forward_and_backward(name):
    # fullgraph=True fails on any graph break (data-dependent Python control flow); aot_eager traces the
    # backward too without needing a C++ compiler.
    model = build_small(name).eval()
    x = batch(name)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    out = compiled(x)
    torch.testing.assert_close(out, model(x))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
