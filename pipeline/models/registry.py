"""Model names as data: each name maps to a builder that checks the input shape it is given.

``build_model`` constructs on the CPU from its own seed, so the same seed gives the same initial weights
on every machine and leaves the caller's random state as it was.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable
from types import MappingProxyType

import torch
from torch import nn

from pipeline.models.cnn1d import CNN1d, feature_length
from pipeline.models.config import ModelConfig
from pipeline.models.factory import FIXED_KEYWORDS, build_factory_model
from pipeline.models.mlp import MLP
from pipeline.models.resnet import ResNet18
from pipeline.models.wide_resnet import WideResNet
from pipeline.references import ReferenceProblem, check_call, resolve

Builder = Callable[[ModelConfig, tuple[int, ...], int], nn.Module]


def _build_mlp(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return MLP(input_shape, num_classes, cfg.hidden, cfg.dropout, cfg.batchnorm, cfg.residual)


def _build_cnn1d(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if len(input_shape) not in (1, 2) or (len(input_shape) == 2 and input_shape[0] != 1):
        raise ValueError(f"cnn1d takes sequences of shape (L,) or (1, L), got input_shape={input_shape}")
    length = input_shape[-1]
    if feature_length(length) < 1:
        raise ValueError(f"cnn1d needs sequences of length >= 3, got input_shape={input_shape}")
    return CNN1d(length, num_classes, cfg.channels)


def _image_channels(name: str, input_shape: tuple[int, ...]) -> int:
    if len(input_shape) != 3:
        raise ValueError(f"{name} takes images of shape (C, H, W), got input_shape={input_shape}")
    return input_shape[0]


def _build_resnet18(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return ResNet18(_image_channels("resnet18", input_shape), num_classes)


def _build_wrn(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return WideResNet(_image_channels("wrn", input_shape), num_classes, cfg.depth, cfg.width, cfg.dropout)


REGISTRY: MappingProxyType[str, Builder] = MappingProxyType(
    {
        "mlp": _build_mlp,
        "cnn1d": _build_cnn1d,
        "resnet18": _build_resnet18,
        "wrn": _build_wrn,
        "factory": build_factory_model,
    }
)


def _as_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    try:  # operator.index takes torch.Size entries and numpy integers, refuses floats and bools
        shape = tuple(operator.index(d) for d in input_shape if not isinstance(d, bool))
    except TypeError:
        shape = ()
    if not shape or len(shape) != len(input_shape) or min(shape) < 1:
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got input_shape={input_shape}")
    return shape


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy integers count


def list_models() -> list[str]:
    """The built-in models (a user's own comes by ``factory: module:attr``)."""
    return [name for name in REGISTRY if name != "factory"]


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """The model ``cfg`` names, for inputs of ``input_shape`` (one example, no batch dimension) and
    ``num_classes`` logits, initialised from ``seed``; on the CPU in float32, in training mode.

    Raises ValueError naming the argument for a shape the model cannot take, fewer than 2 classes,
    or a seed that is not a non-negative int.
    """
    input_shape = _as_shape(input_shape)
    if not _is_int(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got num_classes={num_classes!r}")
    if not _is_int(seed) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64), got seed={seed!r}")
    builder = REGISTRY[cfg.name]
    # fork_rng(devices=[]) saves and restores only the CPU generator, which is the only one seeded here:
    # default_generator.manual_seed leaves the CUDA generators alone (torch.manual_seed would reseed them).
    # torch.device("cpu") pins construction to the CPU even under a different default device.
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.random.default_generator.manual_seed(int(seed))
        return builder(cfg, input_shape, int(num_classes))


def check_factory_model(cfg: ModelConfig, inputs: torch.Tensor, num_classes: int, seed: int) -> None:
    """The reference and its arguments, then one forward pass on ``inputs`` (a small batch of the study's own
    training data): the logits must be ``(batch, num_classes)`` and finite. Raises ``ReferenceProblem``."""
    assert cfg.factory is not None
    check_call(resolve(cfg.factory), cfg.factory, FIXED_KEYWORDS, cfg.args)
    try:
        model = build_model(cfg, tuple(inputs.shape[1:]), num_classes, seed)
        with torch.no_grad():
            logits = model.eval()(inputs)
    except ReferenceProblem:
        raise
    except Exception as error:  # the user's error, named and chained
        raise ReferenceProblem(f"{cfg.factory}: building the model or its forward pass raised {error!r}") from error
    expected = (inputs.shape[0], num_classes)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ReferenceProblem(
            f"{cfg.factory}: the model maps a batch of {expected[0]} to {got}; logits must be {expected}"
        )
    if not torch.isfinite(logits).all():
        raise ReferenceProblem(
            f"{cfg.factory}: the model's logits on the study's first training examples are not finite"
        )
