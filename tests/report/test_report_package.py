"""The report package's shape: the figures package's public names, headless drawing, and the house rule that a
function reads on one screen (about 60 lines)."""

from __future__ import annotations

import ast
from pathlib import Path

import pipeline.report.figures as figures

REPORT = Path(__file__).resolve().parents[2] / "pipeline" / "report"
MAX_FUNCTION_LINES = 60


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_figures_package_exposes_what_the_report_imports():
    assert sorted(figures.__all__) == ["FigureFile", "SkippedFigure", "draw_figures"]
    assert all(callable(getattr(figures, name)) for name in figures.__all__)


def test_figures_never_touch_pyplot():
    # pyplot keeps global state and picks a backend; every figure draws on its own Agg canvas instead.
    for path in sorted((REPORT / "figures").glob("*.py")):
        assert not any(m.startswith("matplotlib.pyplot") for m in imported_modules(path)), path.name


def test_no_report_function_is_longer_than_a_screen():
    long = [
        f"{path.relative_to(REPORT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted(REPORT.rglob("*.py"))
        for node in functions(path)
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
