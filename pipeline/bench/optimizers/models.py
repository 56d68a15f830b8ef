"""The benchmark's models: small seeded architectures with a fixed batch shape each (``mlp``, ``cnn``, ``deep``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BenchModel:
    """A benchmark model: how to build it and the shape of its fixed batch."""

    name: str
    description: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # one example, without the batch dimension
    batch_size: int
    n_classes: int = 10


def _mlp(widths: Sequence[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _cnn(channels: int, image_size: int, n_classes: int) -> nn.Module:
    """Three conv-BN-ReLU-maxpool blocks (channels, 2x, 4x) and a linear head."""

    def block(n_in: int, n_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(n_in, n_out, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(n_out),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    c = channels
    side = image_size // 8
    return nn.Sequential(
        *block(3, c),
        *block(c, 2 * c),
        *block(2 * c, 4 * c),
        nn.Flatten(),
        nn.Linear(4 * c * side * side, n_classes),
    )


def _deep_narrow(depth: int, width: int, n_in: int, n_classes: int) -> nn.Module:
    """``depth`` blocks of Linear(width, width) + BatchNorm1d + ReLU: many small tensors."""
    layers: list[nn.Module] = [nn.Linear(n_in, width)]
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU()]
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def bench_models(quick: bool = False) -> dict[str, BenchModel]:
    """The benchmark's models by name: ``mlp``, ``cnn``, ``deep``.

    Full sizes are chosen so that one SGD step takes roughly 10-40 ms on a 2-core CPU;
    ``quick`` gives tiny versions of the same architectures for smoke tests.
    """
    if quick:
        return {
            "mlp": BenchModel("mlp", "MLP 32-64-64-10, batch 32", lambda: _mlp([32, 64, 64, 10]), (32,), 32),
            "cnn": BenchModel(
                "cnn", "CNN 3 conv-BN blocks (4-8-16 ch) on 3x8x8, batch 8", lambda: _cnn(4, 8, 10), (3, 8, 8), 8
            ),
            "deep": BenchModel(
                "deep",
                "deep narrow MLP: 6 x (Linear 8-8 + BatchNorm1d), batch 16",
                lambda: _deep_narrow(6, 8, 8, 10),
                (8,),
                16,
            ),
        }
    return {
        "mlp": BenchModel("mlp", "MLP 512-1024-1024-10, batch 256", lambda: _mlp([512, 1024, 1024, 10]), (512,), 256),
        "cnn": BenchModel(
            "cnn",
            "CNN 3 conv-BN blocks (32-64-128 ch) on 3x32x32, batch 64",
            lambda: _cnn(32, 32, 10),
            (3, 32, 32),
            64,
        ),
        "deep": BenchModel(
            "deep",
            "deep narrow MLP: 64 x (Linear 64-64 + BatchNorm1d), batch 512",
            lambda: _deep_narrow(64, 64, 64, 10),
            (64,),
            512,
        ),
    }


def build_model(spec: BenchModel, device: torch.device, generator: torch.Generator) -> nn.Module:
    """Build ``spec`` on ``device`` with every parameter drawn from ``generator``.

    The module is created on the meta device, so the global RNG is never touched;
    values are drawn on the CPU and copied, so they do not depend on the device.
    """
    with torch.device("meta"):
        model = spec.build()
    model = model.to_empty(device=device)
    initialised: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                fan_in = module.weight[0].numel()
                bound = math.sqrt(6.0 / fan_in)  # He-uniform, for ReLU networks
                weight = torch.empty(module.weight.shape, dtype=module.weight.dtype)
                weight.uniform_(-bound, bound, generator=generator)
                module.weight.copy_(weight)
                initialised.add(id(module.weight))
                if module.bias is not None:
                    module.bias.zero_()
                    initialised.add(id(module.bias))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()  # weight 1, bias 0, running statistics reset
                initialised.update(id(t) for t in module.parameters(recurse=False))
                initialised.update(id(t) for t in module.buffers(recurse=False))
    missed = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if id(t) not in initialised]
    if missed:
        raise ValueError(f"benchmark model {spec.name!r} has tensors the initialiser does not cover: {missed}")
    return model
