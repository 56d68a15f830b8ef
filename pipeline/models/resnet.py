"""ResNet-18, CIFAR variant (He et al. 2016, as in the SAM papers' CIFAR experiments): a 3x3 stem
convolution and no max-pool, so a 32x32 image keeps full resolution in the first stage."""

from __future__ import annotations

from torch import Tensor, nn

from pipeline.models._conv_init import init_conv_and_batchnorm


def conv3x3(channels_in: int, channels_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut, then ReLU. The shortcut is a 1x1 conv + BN where the
    block changes resolution or width (option B of the paper), the identity elsewhere."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels_in, channels_out, stride)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = conv3x3(channels_out, channels_out)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.relu = nn.ReLU(inplace=True)  # only ever applied to a fresh tensor
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False), nn.BatchNorm2d(channels_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """Stem conv3x3(64)-BN-ReLU; four stages of two BasicBlocks (64, 128, 256, 512 channels, strides
    1, 2, 2, 2); global average pool; Linear. 11,173,962 parameters for 10 classes."""

    STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv3x3(in_channels, 64), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        channels = 64
        for channels_out, stride in self.STAGES:
            blocks += [BasicBlock(channels, channels_out, stride), BasicBlock(channels_out, channels_out, 1)]
            channels = channels_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_classes)
        init_conv_and_batchnorm(self)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))
        return self.head(self.pool(h).flatten(1))
