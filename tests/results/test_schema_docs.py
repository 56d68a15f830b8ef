"""docs/outputs.md lists the trials table's columns: exactly the typed row's, so the reference cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.results.row import columns

DOC = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"


def documented_columns() -> list[str]:
    """The first cells of the table headed ``| column | type | meaning |``."""
    table = DOC.read_text().split("| column | type | meaning |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def test_the_documented_columns_are_the_schema() -> None:
    assert sorted(documented_columns()) == sorted(columns())
