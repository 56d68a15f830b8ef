"""JSON has no NaN or inf: the project writes them as null (a diverged trial's missing metrics)."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth of dicts and lists, replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value
