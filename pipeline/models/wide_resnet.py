"""Wide ResNet WRN-depth-width (Zagoruyko & Komodakis, BMVC 2016) for 32x32 images, with pre-activation
blocks as in the authors' code (szagoruyko/wide-residual-networks)."""

from __future__ import annotations

from torch import Tensor, nn

from pipeline.models._conv_init import init_conv_and_batchnorm


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-(Dropout)-conv3x3 plus a shortcut.

    Where the block changes width or resolution, the shortcut is a 1x1 convolution of the pre-activated
    input (the first BN-ReLU is shared by both paths); elsewhere it is the raw input itself.
    """

    def __init__(self, channels_in: int, channels_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(channels_in)
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, stride=1, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)  # only ever applied to a fresh BatchNorm output
        self.projects = stride != 1 or channels_in != channels_out  # fixed at construction
        self.shortcut = (
            nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False) if self.projects else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        return out + self.shortcut(pre if self.projects else x)


class WideResNet(nn.Module):
    """conv3x3(16); three groups of n = (depth - 4) / 6 blocks of 16k, 32k, 64k channels (k = width),
    strides 1, 2, 2; BN-ReLU; global average pool; Linear. WRN-16-8: 10,961,370 parameters and
    WRN-28-10: 36,479,194 for 10 classes (the paper's 11.0M and 36.5M)."""

    def __init__(self, in_channels: int, num_classes: int, depth: int, width: int, dropout: float = 0.0) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n + 4 with n >= 1, got depth={depth}")
        n = (depth - 4) // 6
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        channels = 16
        for channels_out, stride in ((16 * width, 1), (32 * width, 2), (64 * width, 2)):
            for i in range(n):
                blocks.append(PreActBlock(channels, channels_out, stride if i == 0 else 1, dropout))
                channels = channels_out
        self.blocks = nn.Sequential(*blocks)
        self.final = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, num_classes)
        init_conv_and_batchnorm(self)

    def forward(self, x: Tensor) -> Tensor:
        h = self.final(self.blocks(self.stem(x)))
        return self.head(self.pool(h).flatten(1))
