"""augment_batch: shapes, determinism from the generator, and that crop, flip and cutout really act."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipeline.data import augment_batch


def _images(n: int, seed: int = 0, size: int = 16) -> torch.Tensor:
    # Strictly positive, so a zero can only come from padding or cutout.
    return torch.rand((n, 3, size, size), generator=torch.Generator().manual_seed(seed)) + 0.1


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shape_dtype_and_input_untouched():
    x = _images(8)
    before = x.clone()
    out = augment_batch(x, _gen(0), cutout=4)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.equal(x, before)


def test_same_generator_state_gives_the_same_output():
    x = _images(32)
    a = augment_batch(x, _gen(5), cutout=6)
    b = augment_batch(x, _gen(5), cutout=6)
    c = augment_batch(x, _gen(6), cutout=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_crop_is_a_window_of_the_zero_padded_image():
    x = _images(24)
    out = augment_batch(x, _gen(1), padding=2, flip=False)
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = []
    for i in range(len(x)):
        matches = [
            (r, c) for r in range(5) for c in range(5) if torch.equal(out[i], padded[i, :, r : r + 16, c : c + 16])
        ]
        assert len(matches) == 1, i
        offsets.append(matches[0])
    assert len(set(offsets)) > 5  # offsets really vary (24 draws over 25 windows)
    assert sum(o != (2, 2) for o in offsets) > 12  # most images moved


def test_flip_mirrors_about_half_the_images_and_leaves_the_rest():
    x = _images(400, size=8)
    out = augment_batch(x, _gen(2), padding=0, flip=True)
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    assert (same ^ mirrored).all()  # each image is either untouched or exactly mirrored
    assert 150 < mirrored.sum().item() < 250


def test_no_padding_no_flip_is_the_identity():
    x = _images(4)
    assert torch.equal(augment_batch(x, _gen(0), padding=0, flip=False), x)


@pytest.mark.parametrize("side", [8, 5])
def test_cutout_zeroes_one_clipped_square_in_all_channels(side):
    x = _images(64)
    out = augment_batch(x, _gen(3), padding=0, flip=False, cutout=side)
    hole = out == 0
    assert torch.equal(hole, hole[:, :1].expand_as(hole))  # the same square in every channel
    assert torch.equal(out[~hole], x[~hole])  # nothing else changes
    sizes = set()
    for mask in hole[:, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        height, width = len(rows), len(cols)
        assert rows.max() - rows.min() + 1 == height and cols.max() - cols.min() + 1 == width  # contiguous
        assert mask.sum().item() == height * width  # a full rectangle
        assert side // 2 <= height <= side and side // 2 <= width <= side  # clipped only at the borders
        sizes.add((height, width))
    assert (side, side) in sizes and len(sizes) > 1  # whole squares inside, clipped ones at the edges


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"needs an NCHW batch, got a tensor of shape \(3, 16, 16\)"):
        augment_batch(torch.zeros(3, 16, 16), _gen(0))
    with pytest.raises(ValueError, match=r"padding=-1"):
        augment_batch(_images(2), _gen(0), padding=-1)
    with pytest.raises(ValueError, match=r"cutout=-2"):
        augment_batch(_images(2), _gen(0), cutout=-2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_the_gpu_with_a_gpu_generator():
    x = _images(16).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    out = augment_batch(x, g, cutout=4)
    assert out.device == x.device
    with pytest.raises(ValueError, match="generator lives on cpu"):
        augment_batch(x, _gen(0))
