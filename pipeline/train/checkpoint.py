"""Trial checkpoints: written atomically, read back with ``weights_only=True`` (never an arbitrary pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline._io import replace_atomically

CHECKPOINT_NAME = "trial.ckpt"
FORMAT = "sam-study-trial-checkpoint-v1"


def checkpoint_path(directory: str | Path) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def save_checkpoint(directory: str | Path, payload: dict[str, Any]) -> None:
    """Whole or not at all (``replace_atomically``): a kill mid-write leaves the old checkpoint."""
    path = checkpoint_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda tmp: torch.save({"format": FORMAT, **payload}, tmp))


def load_checkpoint(directory: str | Path, config_json: str) -> dict[str, Any] | None:
    """The checkpoint in ``directory`` for this exact trial config, or None when there is none."""
    path = checkpoint_path(directory)
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for foreign or damaged files
        raise ValueError(
            f"{path} is not a readable sam-study checkpoint ({type(error).__name__}: {error}); "
            "delete it or point checkpoint_dir elsewhere"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a sam-study trial checkpoint; delete it or point checkpoint_dir elsewhere")
    if payload.get("config") != config_json:
        raise ValueError(f"{path} belongs to a different trial configuration; use a fresh checkpoint_dir per trial")
    return payload
