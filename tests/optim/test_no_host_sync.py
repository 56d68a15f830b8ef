"""No host synchronisation inside step for the SAM family.

On CUDA, torch.cuda.set_sync_debug_mode("error") turns any sync into an error. On CPU nothing syncs,
so the test inspects the code path instead: every Python-level way of pulling a tensor value to the
host (item, bool, float, int, index, tolist, numpy, cpu) raises while step runs.
"""

from __future__ import annotations

import pytest
import torch

from tests.optim.problems import build, do_step, two_layer_net

SYNC_FREE = ["sam", "asam", "fsam", "mpsam", "xsam", "lets-sam", "lets-asam", "lets-fsam", "lets-xsam", "lets-mpsam"]
HOST_READS = ["item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy", "cpu"]


def _forbid_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for attr in HOST_READS:

        def refuse(self, *args, _attr=attr, **kwargs):
            raise AssertionError(f"host read Tensor.{_attr} inside step")

        monkeypatch.setattr(torch.Tensor, attr, refuse)


def test_the_guard_catches_a_host_read(monkeypatch):
    _forbid_host_reads(monkeypatch)
    with pytest.raises(AssertionError, match=r"Tensor\.item"):
        torch.ones(()).item()
    with pytest.raises(AssertionError, match="__bool__"):
        bool(torch.ones(()) > 0)


@pytest.mark.parametrize("name", SYNC_FREE)
def test_step_makes_no_host_read_on_cpu(name, monkeypatch):
    problem = two_layer_net(batchnorm=True)
    opt = build(name, problem.model)
    do_step(opt, problem)  # lazy state exists from here on
    do_step(opt, problem)
    with monkeypatch.context() as patch:
        _forbid_host_reads(patch)
        for _ in range(3):
            do_step(opt, problem)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", SYNC_FREE)
def test_step_makes_no_cuda_sync(name):
    problem = two_layer_net(batchnorm=True)
    problem.model.cuda()
    # The problem's data live on the CPU; rebuild closures on CUDA data.
    x = torch.randn(128, 10, device="cuda")
    y = torch.randint(0, 3, (128,), device="cuda")

    on_device = {"generator": torch.Generator(device="cuda").manual_seed(0)} if "mpsam" in name else {}
    opt = build(name, problem.model, **on_device)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(problem.model(x), y)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    def step():
        return opt.step(closure, closure) if name.startswith("lets-") else opt.step(closure)

    step()
    step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
