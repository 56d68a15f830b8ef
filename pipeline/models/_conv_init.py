"""Initialisation shared by the image networks."""

from __future__ import annotations

from torch import nn


def init_conv_and_batchnorm(model: nn.Module) -> None:
    """He-normal convolutions (fan-out, as the ResNet and WRN reference codes), BatchNorm scale 1 shift 0,
    classifier bias 0; the classifier weight keeps PyTorch's default."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
