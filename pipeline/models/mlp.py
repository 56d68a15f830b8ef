"""A fully connected classifier over the flattened input."""

from __future__ import annotations

import itertools
import math

from torch import Tensor, nn


def hidden_layer(width_in: int, width_out: int, dropout: float, batchnorm: bool) -> nn.Sequential:
    # A Linear followed by BatchNorm needs no bias: BatchNorm subtracts the batch mean and adds its own shift.
    layers: list[nn.Module] = [nn.Linear(width_in, width_out, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(width_out))
    layers.append(nn.ReLU())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """Flatten -> [Linear -> (BatchNorm1d) -> ReLU -> (Dropout)] per hidden width -> Linear.

    With ``residual``, every hidden layer after the first computes ``h + layer(h)`` (MNIST-1D's MLPBase).
    No hidden widths gives multinomial logistic regression.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: tuple[int, ...],
        dropout: float = 0.0,
        batchnorm: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        widths = (math.prod(input_shape), *hidden)
        self.flatten = nn.Flatten()
        self.hidden = nn.ModuleList(
            hidden_layer(w_in, w_out, dropout, batchnorm) for w_in, w_out in itertools.pairwise(widths)
        )
        self.skips = tuple(residual and i > 0 for i in range(len(hidden)))  # static: no data-dependent branch
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.flatten(x)
        for layer, skip in zip(self.hidden, self.skips, strict=False):
            h = h + layer(h) if skip else layer(h)
        return self.head(h)
