"""How the project writes a number in text: the report's tables and sentences, the console lines, the benchmarks.

One owner, so that the same number reads the same wherever it appears. The report's cells show a missing value as
an en dash; the console and the benchmarks, which print plain ASCII, as a hyphen.
"""

from __future__ import annotations

from typing import Any

MISSING = "–"  # a report cell with no value
MISSING_ASCII = "-"  # the same on the console


def cell(value: Any, digits: int = 4, signed: bool = False) -> str:
    """A table cell: a float to ``digits`` decimals (with its sign when ``signed``), an int as is, a bool as
    yes/no, infinities as ∞, and None or NaN as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if value != value:  # NaN
        return MISSING
    if value in (float("inf"), float("-inf")):
        return "∞" if value > 0 else "−∞"
    return signed_fixed(value, digits) if signed else f"{value:.{digits}f}"


def signed_fixed(value: float, digits: int = 4) -> str:
    """A difference in a sentence: ``+0.0120``, ``-0.0201``."""
    return f"{value:+.{digits}f}"


def p_value(value: float | None) -> str:
    """A p-value: three significant digits, or ``< 0.0001``."""
    if value is None:
        return MISSING
    return "< 0.0001" if value < 1e-4 else f"{value:.3g}"


def significant(value: float | None, digits: int = 4, missing: str = MISSING) -> str:
    """``value`` to ``digits`` significant digits; ``missing`` when there is none."""
    return missing if value is None else f"{value:.{digits}g}"


def short(value: Any) -> str:
    """A console value: a float to 4 significant digits, None as ``-``, anything else as ``str`` gives it."""
    if isinstance(value, float):
        return significant(value)
    return MISSING_ASCII if value is None else str(value)


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal (``0.874`` -> ``87.4%``); None as ``-``."""
    return MISSING_ASCII if value is None else f"{100 * value:.1f}%"
