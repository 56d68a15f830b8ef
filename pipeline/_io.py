"""Files the project writes: whole or not at all, and JSON that is JSON.

Every file (a study's spec, selection, trials table, report, a trial's checkpoint) is written to a temporary file
beside it, named for the writing process, flushed to disk, then renamed over the old one: a crash, a kill or a
full disk leaves the old file or the new, never part of one, and no temporary file behind.

JSON has no NaN or inf: the project writes them as null (a diverged trial's missing metrics), and every JSON file
is written with ``allow_nan=False`` so that a stray NaN fails loudly instead of producing a file no parser reads.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth of dicts and lists, replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON text, non-finite floats as null; raises ValueError on anything else JSON cannot hold."""
    text = json.dumps(finite_or_none(value), indent=indent, allow_nan=False)
    return text + "\n" if indent is not None else text


def replace_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a fresh temporary path beside ``path``, flush it to disk, then rename it over
    ``path``. On any failure ``path`` is left as it was and the temporary file is removed."""
    path = Path(path)
    # Named after the file and the writing process: two processes (a driver and a retried trial, two nodes on a
    # shared disk) never write the same temporary file, and a stale one says whose it was.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Cleanup only: its own failure (tmp is a directory, say) must not hide the write's error.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | Path, text: str) -> None:
    """``path`` holds the old text or the new, never part of it (a full disk fails before the rename)."""
    replace_atomically(path, lambda tmp: tmp.write_text(text))


def write_json_atomically(path: str | Path, value: Any) -> None:
    """``value`` as indented JSON (``json_text``), written atomically."""
    write_text_atomically(path, json_text(value))
