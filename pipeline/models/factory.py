"""A user's model: ``model: {factory: "my_ext:make_net", args: {...}}``.

The factory is called as ``fn(input_shape=<tuple>, num_classes=<int>, **args)`` and returns a ``torch.nn.Module``
that maps a batch of inputs to logits of shape ``(batch, num_classes)``. ``build_model`` seeds its construction as
it does for the built-in models. ``check_factory_model`` (in the registry) holds it to that
contract at the door.
"""

from __future__ import annotations

from torch import nn

from pipeline.models.config import ModelConfig
from pipeline.references import ReferenceProblem, resolve

FIXED_KEYWORDS = ("input_shape", "num_classes")


def build_factory_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The factory's module; ``ReferenceProblem`` when it returns anything else."""
    assert cfg.factory is not None
    model = resolve(cfg.factory)(input_shape=input_shape, num_classes=num_classes, **cfg.args)
    if not isinstance(model, nn.Module):
        raise ReferenceProblem(
            f"{cfg.factory} returned a {type(model).__name__}; a model factory returns a torch.nn.Module"
        )
    return model
