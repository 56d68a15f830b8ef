"""No pickle from a user's path, YAML through ``safe_load`` only: the sources are scanned for every loader that can
run code, and a study file that asks YAML to call a function is refused without calling it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline.spec.study import StudySpecError, load_study

PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"
SOURCES = sorted(PIPELINE.rglob("*.py"))

# Calls that unpickle (or otherwise run code from) what they read, by dotted name, whatever the import alias.
UNSAFE_CALLS = {
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "cloudpickle.load",
    "cloudpickle.loads",
    "dill.load",
    "dill.loads",
    "joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "pandas.read_pickle",
    "yaml.load",
    "yaml.load_all",
    "yaml.unsafe_load",
    "yaml.unsafe_load_all",
    "yaml.full_load",
    "yaml.full_load_all",
}
UNSAFE_NAMES = {"UnsafeLoader", "FullLoader", "Loader", "Unpickler"}  # yaml.Loader, pickle.Unpickler, ...


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted origin, from the module's imports (``np`` -> ``numpy``, ``load`` -> ``pickle.load``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([aliases.get(node.id, node.id), *reversed(parts)])


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else keyword.value
    return None


def _from_a_loader_module(node: ast.Attribute, aliases: dict[str, str]) -> bool:
    return (_dotted(node, aliases) or "").split(".")[0] in ("yaml", "pickle", "dill", "cloudpickle")


def unsafe_loads(source: str) -> list[str]:
    """Each call in ``source`` that may run code from the file it reads, as ``line: call``."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func, aliases) or ""
            if name in UNSAFE_CALLS:
                found.append(f"{node.lineno}: {name}")
            elif name == "torch.load" and _keyword(node, "weights_only") is not True:
                found.append(f"{node.lineno}: torch.load without weights_only=True")
            elif name == "numpy.load" and _keyword(node, "allow_pickle") not in (None, False):
                found.append(f"{node.lineno}: numpy.load with allow_pickle")
        elif isinstance(node, ast.Attribute) and node.attr in UNSAFE_NAMES and _from_a_loader_module(node, aliases):
            found.append(f"{node.lineno}: {_dotted(node, aliases)}")
    return found


def test_the_scan_sees_every_form_it_forbids() -> None:
    bad = """
import pickle, yaml
import numpy as np
import pandas as pd
import torch
from pickle import loads as undo
pickle.load(open("x", "rb"))
undo(b"")
yaml.load("a: 1", Loader=yaml.Loader)
yaml.unsafe_load("a: 1")
np.load("x.npy", allow_pickle=True)
pd.read_pickle("x.pkl")
torch.load("x.pt")
torch.load("x.pt", weights_only=False)
"""
    assert len(unsafe_loads(bad)) == 9
    fine = """
import yaml, torch
import numpy as np
yaml.safe_load("a: 1")
np.load("x.npy")
torch.load("x.pt", map_location="cpu", weights_only=True)
"""
    assert unsafe_loads(fine) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PIPELINE.parent)))
def test_no_source_loads_anything_that_can_run_code(path: Path) -> None:
    assert unsafe_loads(path.read_text()) == [], f"{path}: use safe_load, weights_only=True, no pickle"


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:builtins.open",
        "!!python/object/new:builtins.open",
        "!!python/name:builtins.open",
        "!!python/object:pathlib.PosixPath",
    ],
)
def test_a_study_file_with_a_python_tag_is_refused_and_runs_nothing(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "executed"
    study = tmp_path / "evil.yaml"
    study.write_text(f"name: evil\ndescription: {tag} ['{marker}', 'w']\n")
    with pytest.raises(StudySpecError) as refused:
        load_study(study)
    assert str(refused.value).startswith(f"{study}: not valid YAML: ")
    assert not marker.exists(), "the YAML tag was executed"


def test_the_python_tag_payload_is_live(tmp_path: Path) -> None:
    """What the refusal above protects from: an unsafe loader does call the function (the marker appears)."""
    import yaml

    marker = tmp_path / "executed"
    yaml.unsafe_load(f"!!python/object/apply:builtins.open ['{marker}', 'w']")
    assert marker.exists()
