"""Batch image augmentation on the batch's own device: random crop, horizontal flip, cutout.

Whole-batch tensor ops (one gather for crop and flip together, one mask for cutout), so it runs on
the GPU without a Python loop over images and without host synchronisation.
"""

from __future__ import annotations

import torch
from torch import Tensor


def augment_batch(
    x: Tensor,
    generator: torch.Generator,
    *,
    padding: int = 4,
    flip: bool = True,
    cutout: int = 0,
) -> Tensor:
    """Return an augmented copy of the NCHW batch ``x``; ``x`` itself is not modified.

    - crop: zero-pad by ``padding`` on every side, then take an H x W window at an offset drawn
      uniformly from [0, 2 * padding] in each direction (padding=0: no crop);
    - flip: mirror left-right with probability 0.5 per image;
    - cutout: zero a ``cutout`` x ``cutout`` square whose centre is uniform over the image, clipped at
      the borders, in all channels (0 = off).
    Draws come from ``generator`` (which must live on x.device) in a fixed order, so the same
    generator state gives the same output.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_batch needs an NCHW batch, got a tensor of shape {tuple(x.shape)}")
    if padding < 0 or cutout < 0:
        raise ValueError(f"padding and cutout must be >= 0, got padding={padding}, cutout={cutout}")
    if not _same_device(generator.device, x.device):
        raise ValueError(
            f"the generator lives on {generator.device} but the batch on {x.device}; make the "
            "generator on the batch's device: torch.Generator(device=x.device)"
        )
    n, _, h, w = x.shape
    device = x.device

    row_offset = torch.randint(0, 2 * padding + 1, (n, 1), device=device, generator=generator)
    col_offset = torch.randint(0, 2 * padding + 1, (n, 1), device=device, generator=generator)
    rows = row_offset + torch.arange(h, device=device)  # (n, h): padded-image rows to read
    cols = col_offset + torch.arange(w, device=device)  # (n, w)
    if flip:
        mirrored = torch.rand((n, 1), device=device, generator=generator) < 0.5
        cols = torch.where(mirrored, cols.flip(1), cols)  # reading columns backwards mirrors the crop

    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    batch = torch.arange(n, device=device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=device)[None, :, None, None]
    out = padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]

    if cutout > 0:
        centre_row = torch.randint(0, h, (n, 1), device=device, generator=generator)
        centre_col = torch.randint(0, w, (n, 1), device=device, generator=generator)
        start_row, start_col = centre_row - cutout // 2, centre_col - cutout // 2
        in_rows = (torch.arange(h, device=device) >= start_row) & (torch.arange(h, device=device) < start_row + cutout)
        in_cols = (torch.arange(w, device=device) >= start_col) & (torch.arange(w, device=device) < start_col + cutout)
        hole = in_rows[:, None, :, None] & in_cols[:, None, None, :]  # (n, 1, h, w), shared by all channels
        out = out.masked_fill(hole, 0.0)
    return out


def _same_device(a: torch.device, b: torch.device) -> bool:
    # torch.device("cuda") and torch.device("cuda:0") name the same device when one index is unset.
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)
