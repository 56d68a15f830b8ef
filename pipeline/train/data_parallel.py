"""One trial on several data-parallel workers (DDP): what ``run_trial`` needs to know about the others.

The process group is set up by whoever starts the workers (Ray Train's ``TorchTrainer``, or a test); this
module only uses it. Every worker builds the same data, model and generators from the trial seed, walks
the same global batch order, and takes its own contiguous slice of each global batch, so that the
``global`` perturbation reproduces one device on the concatenated batch. Each worker's loss is its sum
scaled by ``world_size / global_batch``: DDP's mean over workers then equals the global batch mean even
when the last batch does not split evenly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

PERTURBATIONS = ("local", "global")


@dataclass
class DataParallel:
    """This worker's place among ``world_size`` workers of one trial; ``local`` picks the perturbation."""

    rank: int
    world_size: int
    local: bool
    ddp: DistributedDataParallel | None = None

    @classmethod
    def from_process_group(cls, perturbation: str) -> DataParallel:
        if perturbation not in PERTURBATIONS:
            raise ValueError(f"perturbation must be one of {', '.join(PERTURBATIONS)}, got {perturbation!r}")
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("data-parallel training needs an initialised torch.distributed process group")
        return cls(dist.get_rank(), dist.get_world_size(), perturbation == "local")

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """DDP over ``model``: it broadcasts rank 0's weights and buffers (BatchNorm statistics) at the start
        and its buffers at every forward, so every worker holds the same model."""
        self.ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        return self.ddp

    def shard(self, indices: Tensor) -> Tensor:
        """This worker's contiguous slice of a global batch (or of a split to evaluate)."""
        return torch.tensor_split(indices, self.world_size)[self.rank]

    # ------------------------------------------------------------------ WorkerSync, for the optimizers

    def no_sync(self) -> AbstractContextManager[Any]:
        return self.ddp.no_sync() if self.ddp is not None else contextlib.nullcontext()

    def mean_(self, tensors: Sequence[Tensor]) -> None:
        """One all-reduce for all of ``tensors`` (flattened into a single buffer), then divide."""
        if not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t))
            offset += n

    # ------------------------------------------------------------------ collective helpers for the loop

    def sum_(self, tensor: Tensor) -> Tensor:
        dist.all_reduce(tensor)
        return tensor

    def check_agreement(self, value: int, what: str) -> None:
        """Raise on every worker when they disagree on ``value`` (e.g. the epoch their checkpoints are at)."""
        t = torch.tensor([value, -value], dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if t[0].item() != -t[1].item():
            raise RuntimeError(
                f"the workers of this trial disagree on {what} ({-t[1].item():g} to {t[0].item():g}); "
                "delete the trial's checkpoint folder to start it over"
            )

    def _collective_device(self) -> torch.device:
        return (
            torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        )


def attach(optimizer: torch.optim.Optimizer, parallel: DataParallel) -> None:
    """Give a SAM-family optimizer (and a LETS-wrapped one's inner rule) the workers to sync with."""
    for candidate in (optimizer, getattr(optimizer, "inner", None)):
        if candidate is not None and hasattr(candidate, "workers"):
            candidate.workers = parallel
