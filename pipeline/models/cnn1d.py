"""MNIST-1D's convolutional baseline (``ConvBase`` in greydanus/mnist1d, notebooks/models.py)."""

from __future__ import annotations

from torch import Tensor, nn


def conv_output_length(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


# (kernel, stride, padding) of the three convolutions, each followed by ReLU.
CONV_LAYOUT = ((5, 2, 1), (3, 2, 1), (3, 2, 1))


def feature_length(length: int) -> int:
    """Sequence length after the three strided convolutions (40 -> 19 -> 10 -> 5)."""
    for kernel, stride, padding in CONV_LAYOUT:
        length = conv_output_length(length, kernel, stride, padding)
    return length


class CNN1d(nn.Module):
    """Three strided Conv1d + ReLU layers of ``channels`` channels, flattened into one Linear.

    Takes ``(N, L)`` or ``(N, 1, L)`` inputs of the length ``L`` it was built for.
    """

    def __init__(self, length: int, num_classes: int, channels: int = 25) -> None:
        super().__init__()
        self.length = length
        layers: list[nn.Module] = []
        channels_in = 1
        for kernel, stride, padding in CONV_LAYOUT:
            layers += [nn.Conv1d(channels_in, channels, kernel, stride=stride, padding=padding), nn.ReLU()]
            channels_in = channels
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels * feature_length(length), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        # reshape (not view(-1, ...)) so that an input of the wrong length fails instead of folding into the batch
        h = self.features(x.reshape(x.shape[0], 1, self.length))
        return self.head(h.flatten(1))
