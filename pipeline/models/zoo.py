"""Model factories for the ecosystem's architectures, by name (the optional extra ``pip install -e ".[vision]"``).

A study names them as it names its own factories::

    model: {factory: "pipeline.models.zoo:timm_model", args: {name: resnet18}}
    model: {factory: "pipeline.models.zoo:torchvision_model", args: {name: mobilenet_v3_small}}

Never pretrained weights: every trial starts from the seeded initialisation, as the built-in models do. A misspelt
name gets the nearest one. timm needs torchvision, and torchvision the torch build it was made for: install the pair
that matches your torch (docs/tasks.md says which builds, and which versions are tested).
"""

from __future__ import annotations

import difflib
from typing import Any

from torch import nn

EXTRA = 'pip install -e ".[vision]"'


def timm_model(input_shape: tuple[int, ...], num_classes: int, name: str, **kwargs: Any) -> nn.Module:
    """Any timm architecture by ``name``, untrained, for images of ``input_shape`` (C, H, W); ``kwargs`` go to
    ``timm.create_model`` (``drop_rate``, ...)."""
    try:
        import timm
    except ImportError as error:
        raise ImportError(f"timm is not installed: {EXTRA}") from error
    channels = _image_channels("timm", input_shape)
    if not timm.is_model(name):
        raise ValueError(f"timm has no model {name!r}{_nearest(name, timm.list_models())}")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=channels, **kwargs)


def torchvision_model(input_shape: tuple[int, ...], num_classes: int, name: str, **kwargs: Any) -> nn.Module:
    """Any torchvision classification model by ``name`` with ``weights=None``, for 3-channel images of
    ``input_shape``; ``kwargs`` go to ``torchvision.models.get_model``."""
    try:
        from torchvision import models
    except ImportError as error:
        raise ImportError(f"torchvision is not installed: {EXTRA}") from error
    if _image_channels("torchvision", input_shape) != 3:
        raise ValueError(f"torchvision's classification models take 3-channel images, got input_shape={input_shape}")
    names = models.list_models(module=models)  # the classification models only
    if name not in names:
        raise ValueError(f"torchvision has no classification model {name!r}{_nearest(name, names)}")
    return models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


def _image_channels(library: str, input_shape: tuple[int, ...]) -> int:
    if len(input_shape) != 3:
        raise ValueError(f"{library} models take images of shape (C, H, W), got input_shape={input_shape}")
    return int(input_shape[0])


def _nearest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
