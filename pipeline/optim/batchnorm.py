"""BatchNorm under multi-pass optimizers: running statistics move once per step, on the clean pass.

Every later pass and probe of the step runs BatchNorm in training mode (batch statistics) with the
running statistics untouched — what the reference codes get by setting BatchNorm momentum to 0. Here
``track_running_stats`` is switched off for the duration of the pass instead: in training mode that uses
batch statistics, skips the running-stat update and the ``num_batches_tracked`` increment, and (unlike
momentum 0) cannot turn a non-finite batch statistic into a NaN running statistic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer

from pipeline.optim.base import SAMFamilyOptimizer
from pipeline.optim.lets import LETS


def tracking_batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@contextlib.contextmanager
def running_stats_frozen(model: nn.Module | None = None, layers: list[_BatchNorm] | None = None) -> Iterator[None]:
    """Inside the block, the BatchNorm layers of ``model`` (or the given ``layers``) leave their running
    statistics untouched."""
    layers = tracking_batchnorm_layers(model) if layers is None else layers
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer in layers:
            layer.track_running_stats = True


class _FreezeRunningStats:
    """An extra-pass context factory. A class rather than a lambda so that ``copy.deepcopy`` of a model
    together with its optimizer points the copy at the copied layers."""

    def __init__(self, layers: list[_BatchNorm]) -> None:
        self.layers = layers

    def __call__(self) -> contextlib.AbstractContextManager[None]:
        return running_stats_frozen(layers=self.layers)


def bn_update_once_per_step(optimizer: Optimizer, model: nn.Module) -> None:
    """Make every extra pass and probe of a SAM-family ``optimizer`` run with the running statistics of
    ``model``'s BatchNorm layers frozen (the layers are found once, here, not on every pass). A plain torch
    optimizer makes one pass per step, so it needs nothing."""
    target = optimizer.inner if isinstance(optimizer, LETS) else optimizer
    if isinstance(target, SAMFamilyOptimizer):
        layers = tracking_batchnorm_layers(model)
        if layers:
            target.extra_pass_contexts.append(_FreezeRunningStats(layers))
