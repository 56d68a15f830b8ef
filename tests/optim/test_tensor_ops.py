"""The tensor-list helpers: foreach and loop forms agree, including the two dot products."""

from __future__ import annotations

import pytest
import torch

from pipeline.optim import _tensor_ops as ops


def _lists(dtype):
    gen = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (5,), (3, 2, 2), (1,)]
    a = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    b = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    return a, b


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dot_forms_agree_with_a_flat_dot(dtype):
    a, b = _lists(dtype)
    flat = torch.dot(torch.cat([t.reshape(-1) for t in a]).double(), torch.cat([t.reshape(-1) for t in b]).double())
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for value in (ops.dot_loop(a, b), ops.dot_fused(a, b), ops.dot(a, b, True), ops.dot(a, b, False)):
        torch.testing.assert_close(value.double(), flat, **tol)


def test_global_norm_paths_agree():
    a, _ = _lists(torch.float64)
    expected = torch.linalg.vector_norm(torch.cat([t.reshape(-1) for t in a]))
    torch.testing.assert_close(ops.global_norm(a, True), expected)
    torch.testing.assert_close(ops.global_norm(a, False), expected)


def test_empty_lists_are_handled_on_both_paths():
    for foreach in (True, False):
        assert ops.scale([], 2.0, foreach) == []
        ops.add_([], [], foreach)
        assert float(ops.global_norm([], foreach)) == 0.0
        assert float(ops.dot([], [], foreach)) == 0.0
