"""Model builders by name: ``mlp``, ``cnn1d`` (MNIST-1D's CNN), ``resnet18`` (CIFAR variant) and ``wrn``
(Wide ResNet), and a user's own by ``factory: module:attr`` (``pipeline.models.factory``). Imports torch and
pydantic only, and the project's references module.

``build_model(ModelConfig(...), input_shape, num_classes, seed)`` returns a plain ``nn.Module`` on the
CPU: move it to the device (and to channels_last) afterwards; it works under bf16 autocast and
``torch.compile``. Presets for the reproduced papers, with the MNIST-1D baselines' architectures and
published accuracies, are documented in ``pipeline.models.presets``.
"""

from pipeline.models.config import ModelConfig, ModelName, PresetName
from pipeline.models.presets import PRESETS
from pipeline.models.registry import REGISTRY, build_model, check_factory_model, list_models

__all__ = [
    "PRESETS",
    "REGISTRY",
    "ModelConfig",
    "ModelName",
    "PresetName",
    "build_model",
    "check_factory_model",
    "list_models",
]
