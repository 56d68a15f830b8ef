"""Each architecture is the one its paper describes: layer shapes, parameter counts, BatchNorm where the
architecture has it, presets computing exactly what the reference code computes, and bad shapes refused."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models import ModelConfig, build_model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layers_of(model: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


@pytest.mark.parametrize(
    "cfg, input_shape, num_classes, expected",
    [
        # He et al.'s CIFAR ResNet-18 as in the SAM papers (11.17 M); WRN paper, Table 1 (11.0 M, 36.5 M)
        (ModelConfig(name="resnet18"), (3, 32, 32), 10, 11_173_962),
        (ModelConfig(name="resnet18"), (3, 32, 32), 100, 11_220_132),
        (ModelConfig(name="wrn", depth=16, width=8), (3, 32, 32), 10, 10_961_370),
        (ModelConfig(name="wrn", depth=28, width=10), (3, 32, 32), 10, 36_479_194),
        # 40-50-25-2: 2050 + 1275 + 52; MNIST-1D's notebook prints 15210 (MLPBase) and 5210 (ConvBase)
        (ModelConfig(preset="mpsam_mlp"), (40,), 2, 3_377),
        (ModelConfig(preset="mnist1d_mlp"), (40,), 10, 15_210),
        (ModelConfig(preset="mnist1d_cnn"), (40,), 10, 5_210),
        (ModelConfig(hidden=()), (40,), 10, 410),  # MNIST-1D's LinearBase
    ],
)
def test_parameter_counts(cfg, input_shape, num_classes, expected):
    assert n_params(build_model(cfg, input_shape, num_classes, seed=0)) == expected


def test_mpsam_mlp_is_40_50_25_2_with_dropout_02():
    model = build_model(ModelConfig(preset="mpsam_mlp"), (40,), 2, seed=0)
    assert [tuple(m.weight.shape) for m in layers_of(model, nn.Linear)] == [(50, 40), (25, 50), (2, 25)]
    assert [m.p for m in layers_of(model, nn.Dropout)] == [0.2, 0.2]
    assert not layers_of(model, nn.BatchNorm1d)
    x = torch.randn(64, 40)
    assert not torch.equal(model(x), model(x))  # dropout is live in training mode ...
    model.eval()
    assert torch.equal(model(x), model(x))  # ... and off in evaluation


def test_mnist1d_mlp_computes_mlpbase():
    # MLPBase: h = relu(W1 x); h = h + relu(W2 h); out = W3 h
    model = build_model(ModelConfig(preset="mnist1d_mlp"), (40,), 10, seed=0)
    l1, l2, l3 = layers_of(model, nn.Linear)
    assert [tuple(m.weight.shape) for m in (l1, l2, l3)] == [(100, 40), (100, 100), (10, 100)]
    assert not layers_of(model, nn.Dropout) and not layers_of(model, nn.BatchNorm1d)
    x = torch.randn(5, 40)
    h = F.relu(l1(x))
    h = h + F.relu(l2(h))
    torch.testing.assert_close(model(x), l3(h), rtol=0, atol=0)


def test_mnist1d_cnn_computes_convbase():
    model = build_model(ModelConfig(preset="mnist1d_cnn"), (40,), 10, seed=0)
    convs = layers_of(model, nn.Conv1d)
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 25, (5,), (2,), (1,)),
        (25, 25, (3,), (2,), (1,)),
        (25, 25, (3,), (2,), (1,)),
    ]
    (head,) = layers_of(model, nn.Linear)
    assert head.in_features == 125  # 25 channels x length 5 (40 -> 19 -> 10 -> 5)
    x = torch.randn(5, 40)
    h = x.view(5, 1, 40)
    for c in convs:
        h = F.relu(F.conv1d(h, c.weight, c.bias, stride=2, padding=1))
    torch.testing.assert_close(model(x), head(h.flatten(1)), rtol=0, atol=0)


def test_cnn1d_adapts_its_head_to_the_sequence_length():
    model = build_model(ModelConfig(name="cnn1d", channels=6), (1, 64), 3, seed=0)
    assert layers_of(model, nn.Linear)[0].in_features == 6 * 8  # 64 -> 31 -> 16 -> 8
    assert model(torch.randn(2, 1, 64)).shape == (2, 3)


def test_mlp_batchnorm_follows_every_hidden_linear_which_drops_its_bias():
    model = build_model(ModelConfig(hidden=(32, 16), batchnorm=True), (3, 4, 4), 5, seed=0)
    assert [m.num_features for m in layers_of(model, nn.BatchNorm1d)] == [32, 16]
    hidden_linear = layers_of(model, nn.Linear)[:2]
    assert hidden_linear[0].in_features == 48  # the image is flattened
    assert all(m.bias is None for m in hidden_linear)  # BatchNorm's shift replaces it
    assert layers_of(model, nn.Linear)[-1].bias is not None


@pytest.mark.parametrize(
    "cfg, input_shape",
    [(ModelConfig(), (40,)), (ModelConfig(preset="mnist1d_mlp"), (40,)), (ModelConfig(preset="mnist1d_cnn"), (40,))],
)
def test_no_batchnorm_where_the_architecture_has_none(cfg, input_shape):
    model = build_model(cfg, input_shape, 10, seed=0)
    assert not layers_of(model, nn.modules.batchnorm._BatchNorm)


def test_resnet18_is_the_cifar_variant():
    model = build_model(ModelConfig(name="resnet18"), (3, 32, 32), 10, seed=0)
    stem = layers_of(model, nn.Conv2d)[0]
    assert (stem.kernel_size, stem.stride, stem.out_channels) == ((3, 3), (1, 1), 64)
    assert not layers_of(model, nn.MaxPool2d)
    blocks = [m for m in model.modules() if type(m).__name__ == "BasicBlock"]
    assert [b.conv2.out_channels for b in blocks] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [b.conv1.stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1, 2, 1]
    # stem BN + two per block + three projection shortcuts
    assert len(layers_of(model, nn.BatchNorm2d)) == 1 + 2 * 8 + 3
    assert layers_of(model, nn.Linear)[0].in_features == 512


def test_resnet18_downsamples_32x32_to_4x4():
    model = build_model(ModelConfig(name="resnet18"), (3, 32, 32), 10, seed=0).eval()
    with torch.no_grad():
        features = model.blocks(model.stem(torch.randn(1, 3, 32, 32)))
    assert features.shape == (1, 512, 4, 4)


@pytest.mark.parametrize("depth, width", [(16, 8), (10, 2), (22, 1)])
def test_wrn_layout(depth, width):
    model = build_model(ModelConfig(name="wrn", depth=depth, width=width), (3, 32, 32), 10, seed=0)
    n = (depth - 4) // 6
    blocks = [m for m in model.modules() if type(m).__name__ == "PreActBlock"]
    assert len(blocks) == 3 * n
    assert [b.conv2.out_channels for b in blocks] == [16 * width] * n + [32 * width] * n + [64 * width] * n
    assert [b.conv1.stride[0] for b in blocks][::n] == [1, 2, 2]
    # pre-activation: each block normalises its input first; one BN-ReLU closes the network
    assert [b.bn1.num_features for b in blocks] == [16] + [b.conv2.out_channels for b in blocks[:-1]]
    assert len(layers_of(model, nn.BatchNorm2d)) == 2 * 3 * n + 1
    three_by_three = [c for c in layers_of(model, nn.Conv2d) if c.kernel_size == (3, 3)]
    assert len(three_by_three) == 1 + 2 * 3 * n
    assert not layers_of(model, nn.Dropout)
    assert layers_of(model, nn.Linear)[0].in_features == 64 * width


def test_wrn_blocks_are_pre_activation():
    # identity block: x + conv2(relu(bn2(conv1(relu(bn1(x)))))); projecting block: the 1x1 shortcut sees relu(bn1(x))
    model = build_model(ModelConfig(name="wrn", depth=16, width=1), (3, 8, 8), 10, seed=0).eval()
    blocks = [m for m in model.modules() if type(m).__name__ == "PreActBlock"]
    projecting, identity = blocks[2], blocks[3]  # first and second block of the second group
    x = torch.randn(2, projecting.bn1.num_features, 8, 8)
    with torch.no_grad():
        for block in (projecting, identity):
            pre = F.relu(block.bn1(x))
            branch = block.conv2(F.relu(block.bn2(block.conv1(pre))))
            shortcut = block.shortcut(pre) if block is projecting else x
            torch.testing.assert_close(block(x), branch + shortcut)
            x = block(x)


def test_resnet_blocks_are_post_activation():
    # relu(bn2(conv2(relu(bn1(conv1(x))))) + x) for a block that keeps its shape
    model = build_model(ModelConfig(name="resnet18"), (3, 8, 8), 10, seed=0).eval()
    block = [m for m in model.modules() if type(m).__name__ == "BasicBlock"][1]
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        expected = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))) + x)
        torch.testing.assert_close(block(x), expected)


def test_wrn_dropout_sits_between_the_convolutions_of_every_block():
    model = build_model(ModelConfig(name="wrn", depth=10, width=1, dropout=0.3), (3, 8, 8), 10, seed=0)
    blocks = [m for m in model.modules() if type(m).__name__ == "PreActBlock"]
    assert [b.dropout.p for b in blocks] == [0.3] * 3


@pytest.mark.parametrize(
    "cfg, input_shape, num_classes, seed, match",
    [
        (ModelConfig(name="cnn1d"), (3, 32, 32), 10, 0, r"cnn1d takes sequences .* got input_shape=\(3, 32, 32\)"),
        (ModelConfig(name="cnn1d"), (2, 40), 10, 0, r"input_shape=\(2, 40\)"),
        (ModelConfig(name="cnn1d"), (2,), 10, 0, r"length >= 3, got input_shape=\(2,\)"),
        (ModelConfig(name="resnet18"), (40,), 10, 0, r"resnet18 takes images of shape \(C, H, W\), got .*\(40,\)"),
        (ModelConfig(name="wrn"), (32, 32), 10, 0, r"wrn takes images .* got input_shape=\(32, 32\)"),
        (ModelConfig(), (), 10, 0, r"input_shape must be a non-empty tuple of positive ints, got input_shape=\(\)"),
        (ModelConfig(), (0, 4), 10, 0, r"input_shape=\(0, 4\)"),
        (ModelConfig(), (4.0,), 10, 0, r"input_shape=\(4\.0,\)"),
        (ModelConfig(), (40,), 1, 0, r"num_classes must be an int >= 2, got num_classes=1"),
        (ModelConfig(), (40,), 10, -1, r"seed must be an int in \[0, 2\*\*64\), got seed=-1"),
        (ModelConfig(), (40,), 10, 1.5, r"seed=1\.5"),
    ],
)
def test_bad_build_arguments_raise_value_error_naming_them(cfg, input_shape, num_classes, seed, match):
    with pytest.raises(ValueError, match=match):
        build_model(cfg, input_shape, num_classes, seed)


def test_shape_may_come_as_torch_size():
    model = build_model(ModelConfig(name="cnn1d"), torch.Size([1, 40]), 10, seed=0)
    assert model(torch.randn(2, 40)).shape == (2, 10)
