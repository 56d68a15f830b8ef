"""Input checks shared by the statistics modules: every bad input becomes a ValueError naming the problem."""

from __future__ import annotations

import numbers

import numpy as np

ALTERNATIVES = ("two-sided", "greater", "less")


def _finite_array(x, name: str, ndim: int, shape: str) -> np.ndarray:
    """``x`` as a finite float64 array of ``ndim`` dimensions (``shape`` names them in the message)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of numbers: {err}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D with shape {shape}, got shape {arr.shape}")
    _check_finite(arr, name)
    return arr


def matrix_with_gaps(x, name: str, shape: str) -> np.ndarray:
    """``x`` as a float64 array of shape ``(n_seeds, n >= 1)`` (``shape`` names it in the message), NaN where a run
    is missing; an infinity is refused: a diverged run must be scored as a number."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of numbers: {err}") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be 2-D with shape {shape}, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values; a diverged run must be scored as a number")
    return arr


def vector(x, name: str, min_len: int = 1) -> np.ndarray:
    """``x`` as a finite float64 array of shape ``(n,)`` with ``n >= min_len``."""
    arr = _finite_array(x, name, 1, "(n_seeds,)")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {arr.size}")
    return arr


def paired(method, reference, min_len: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``method`` and ``reference`` as finite arrays of the same shape ``(n,)``, ``n >= min_len``."""
    m = vector(method, "method")
    r = vector(reference, "reference")
    if m.size != r.size:
        raise ValueError(
            f"method has {m.size} values but reference has {r.size}: paired statistics need one value per seed for both"
        )
    if m.size < min_len:
        raise ValueError(f"paired statistics need at least {min_len} paired values, got {m.size}")
    return m, r


def scores_matrix(scores, min_seeds: int = 1, min_methods: int = 1) -> np.ndarray:
    """``scores`` as a finite float64 array of shape ``(n_seeds, n_methods)``."""
    arr = _finite_array(scores, "scores", 2, "(n_seeds, n_methods)")
    if arr.shape[0] < min_seeds:
        raise ValueError(f"scores needs at least {min_seeds} seeds (rows), got {arr.shape[0]}")
    if arr.shape[1] < min_methods:
        raise ValueError(f"scores needs at least {min_methods} methods (columns), got {arr.shape[1]}")
    return arr


def alternative(value: str) -> str:
    if value not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}; got {value!r}")
    return value


def open_unit(value, name: str) -> float:
    """A probability strictly between 0 and 1 (alpha, confidence level, target power)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {name}={value!r}")
    return float(value)


def integer(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def all_equal(x: np.ndarray) -> bool:
    """Exact equality, so that constant data is caught even where a computed std would be ~1e-17, not 0."""
    return bool(np.all(x == x[0]))


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        kind = "NaN" if np.isnan(arr).any() else "infinite values"
        where = [tuple(int(j) for j in i) if arr.ndim > 1 else int(i[0]) for i in np.argwhere(bad)[:5]]
        raise ValueError(f"{name} contains {kind} (first at index {where}); drop or impute them before the statistics")
