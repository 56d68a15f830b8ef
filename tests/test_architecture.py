"""The layering of ``pipeline/`` and the one owner of each outside dependency, read from the imports with ``ast``.

Each package imports only from the packages above it in ``LAYERS`` (its own included); the first tier is shared by
all. Every import counts, a lazy one inside a function too: a lazy import hides a dependency from a reader, it does
not remove it. ``check`` returns the violations of a tree; the last tests feed it the kinds of violation the code once
had, so that a rule that stopped biting would show.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "pipeline"

# Top to bottom: a package may import the packages on its own line and above, never below.
LAYERS = (
    ("_io", "seeding", "provenance", "formatting", "references"),
    ("optim",),
    ("data", "models"),
    ("train",),
    ("spec",),
    ("results",),
    ("stats",),
    ("decisions",),
    ("report",),
    ("study",),
    ("bench",),
    ("cli",),
)
TIER = {name: tier for tier, names in enumerate(LAYERS) for name in names}

# Outside dependencies with one owner: (import prefix, the modules that may import it).
OWNERS = (
    ("ray.tune", {"study/ray_tune.py"}),
    ("ray.train", {"study/ray_train.py"}),
    ("ray._private", {"study/_ray_compat.py"}),
    ("ray", {"study/ray_cluster.py", "study/ray_tune.py", "study/ray_train.py", "study/_ray_compat.py"}),
    ("mlflow", {"study/mlflow/_client.py", "study/mlflow/parent.py", "study/mlflow/child.py",
                "study/mlflow/sync.py", "study/mlflow/baseline.py"}),
    ("pyarrow", {"results/table.py"}),
    ("optuna", {"study/batch_search.py", "study/search_space.py"}),
    ("timm", {"models/zoo.py"}),
    ("torchvision", {"models/zoo.py"}),
    ("PIL", {"data/image_folder.py"}),
)  # fmt: skip
# Pairs that the tiers alone allow but the design forbids: (package, package it may not import, why).
FORBIDDEN = (
    ("study", "report", "the orchestrator takes its control decisions from decisions/; cli/ composes the report"),
)
# Packages that import nothing of the project but themselves (and, for data, the seeding module).
SELF_CONTAINED = {
    "optim": {"optim"},
    "stats": {"stats"},
    "data": {"data", "seeding", "references"},
    "models": {"models", "references"},
}
OPTIM_MAY_IMPORT = {"torch", *sys.stdlib_module_names}  # torch and the standard library
PARQUET_CALLS = {"to_parquet", "read_parquet", "write_table", "read_table", "ParquetWriter"}


@dataclass(frozen=True)
class Violation:
    module: str  # path below pipeline/
    line: int
    rule: str  # layering | forbidden | owner | self-contained | optim-torch-only | parquet-owner
    detail: str

    def __str__(self) -> str:
        return f"pipeline/{self.module}:{self.line}: [{self.rule}] {self.detail}"


def _package(module: str) -> str:
    """``study/mlflow/parent.py`` -> ``study``; ``_io.py`` -> ``_io``."""
    first = module.split("/")[0]
    return first.removesuffix(".py")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module == "pipeline":  # from pipeline import stats
                found += [(node.lineno, f"pipeline.{alias.name}") for alias in node.names]
    return found


def check_source(module: str, source: str) -> list[Violation]:
    """The violations of one module, ``module`` being its path below ``pipeline/``."""
    tree = ast.parse(source)
    package = _package(module)
    out = []
    for line, name in _imports(tree):
        out += _check_import(module, package, line, name)
    if module != "results/table.py":
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in PARQUET_CALLS and _on_parquet(node):
                out.append(Violation(module, node.lineno, "parquet-owner", f"{node.attr}: only results/table.py"))
    return out


def _on_parquet(node: ast.Attribute) -> bool:
    base = node.value
    name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
    return node.attr in {"to_parquet", "read_parquet", "ParquetWriter"} or name in {"pq", "parquet"}


def _check_import(module: str, package: str, line: int, name: str) -> list[Violation]:
    out = []
    if name.startswith("pipeline.") and package in TIER:
        target = name.split(".")[1]
        if target in TIER and TIER[target] > TIER[package]:
            out.append(Violation(module, line, "layering", f"{package} imports {name} (a package below it)"))
        for importer, imported, why in FORBIDDEN:
            if package == importer and target == imported:
                out.append(Violation(module, line, "forbidden", f"{package} imports {name}: {why}"))
        allowed = SELF_CONTAINED.get(package)
        if allowed is not None and target not in allowed:
            out.append(Violation(module, line, "self-contained", f"{package} imports {name}"))
    for prefix, owners in OWNERS:
        if (name == prefix or name.startswith(prefix + ".")) and module not in owners:
            out.append(Violation(module, line, "owner", f"imports {name}: only {', '.join(sorted(owners))} may"))
            break
    if package == "optim" and not name.startswith("pipeline.optim") and name.split(".")[0] not in OPTIM_MAY_IMPORT:
        out.append(Violation(module, line, "optim-torch-only", f"optim imports {name}"))
    return out


def check(root: Path = ROOT) -> list[Violation]:
    out = []
    for path in sorted(root.rglob("*.py")):
        out += check_source(path.relative_to(root).as_posix(), path.read_text())
    return out


def _module_edges(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The project modules a module imports: ``from pipeline.x import y`` is module ``pipeline.x.y`` when there is
    one, else ``pipeline.x``."""
    edges = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                edges.add(full if full in modules else node.module)
    return edges & set(modules)


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Cycles among the project's modules (lazy imports included)."""
    modules = {p.relative_to(root.parent).with_suffix("").as_posix().replace("/", "."): p for p in root.rglob("*.py")}
    modules = {m.removesuffix(".__init__"): p for m, p in modules.items()}
    graph = {m: {n for n in _module_edges(ast.parse(p.read_text()), modules) if n != m} for m, p in modules.items()}
    cycles, done, stack = [], set(), []

    def visit(module: str) -> None:
        if module in stack:
            cycles.append([*stack[stack.index(module) :], module])
            return
        if module in done:
            return
        stack.append(module)
        for target in sorted(graph[module]):
            visit(target)
        stack.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    return cycles


def test_every_package_imports_only_from_those_above_it_and_each_dependency_has_its_owner() -> None:
    violations = check()
    assert not violations, "\n".join(map(str, violations))


def test_no_module_imports_itself_back_through_others() -> None:
    assert import_cycles() == []


# Each kind of violation the code once had, fed to the checker: the rule that must catch it.
ONCE = [
    ("report/analysis.py", "from pipeline.study.plan import eval_key", "layering"),  # the report imported study/
    ("results/study_results.py", "from pipeline.report.write import write_report", "layering"),  # folder bookkeeping
    ("study/ray_train.py", "from ray.tune.integration.ray_train import TuneReportCallback", "owner"),
    ("study/driver.py", "from ray._private import ray_constants", "owner"),  # private Ray outside _ray_compat
    ("cli/report.py", "import mlflow", "owner"),  # the report CLI imported MLflow for credentials
    ("study/mlflow/secrets.py", "from mlflow.tracking import MlflowClient", "owner"),
    ("report/write.py", "import pyarrow.parquet as pq", "owner"),
    ("study/driver.py", "frame.to_parquet(path)", "parquet-owner"),
    ("optim/sam.py", "import numpy as np", "optim-torch-only"),
    ("optim/lets.py", "from pipeline.train.config import TrialConfig", "layering"),
    ("stats/paired.py", "from pipeline.results.row import TrialRow", "self-contained"),
    ("data/registry.py", "from pipeline.train import run_trial", "layering"),
    ("study/stream.py", "from pipeline.report.decisions import decide", "forbidden"),  # seeds decided in report/
    ("study/nightly.py", "from pipeline import report", "forbidden"),
    ("decisions/engine.py", "from pipeline.report.decisions import PROCEDURE", "layering"),
]


@pytest.mark.parametrize(("module", "source", "rule"), ONCE)
def test_the_checker_catches_each_kind_of_violation(module: str, source: str, rule: str) -> None:
    assert rule in {v.rule for v in check_source(module, source)}


def test_the_cycle_finder_finds_a_cycle_held_apart_by_a_lazy_import(tmp_path: Path) -> None:
    root = tmp_path / "pipeline"
    (root / "study").mkdir(parents=True)
    (root / "study" / "a.py").write_text("from pipeline.study.b import f\n")
    (root / "study" / "b.py").write_text("def f():\n    from pipeline.study import a\n")
    (root / "study" / "__init__.py").write_text("")
    assert import_cycles(root)
