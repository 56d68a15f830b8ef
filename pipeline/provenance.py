"""What ran: the code's commit and digest, and the versions of the libraries under it.

Recorded with every trial (``TrialResult.versions``) and every trials-table row, so that a result can be traced to
the code that made it, and the nightly's exact-reproduction check can tell a changed run from an unchanged one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pipeline

_PACKAGE = Path(pipeline.__file__).resolve().parent

TRIAL_STACK = ("torch", "numpy", "scikit-learn")  # what a trial's numbers depend on (TrialResult.versions)
STUDY_STACK = ("ray", "optuna", "mlflow", "pandas", "pyarrow", "scipy")  # what ran the study around it


def library_versions(distributions: Iterable[str]) -> dict[str, str]:
    """``{distribution: version}``, ``"not installed"`` for one that is missing."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def trial_versions() -> dict[str, str]:
    """The versions a TrialResult records: this project, Python, and the numerical libraries."""
    return {"sam-study": pipeline.__version__, "python": platform.python_version(), **library_versions(TRIAL_STACK)}


def git_commit() -> str:
    """The commit of the code that runs (``+dirty`` when the tree has changes); ``unknown`` outside a checkout."""
    root = str(_PACKAGE.parent)
    try:
        commit = _git(root, "rev-parse", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _git(root: str, *args: str) -> str:
    done = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def code_digest() -> str:
    """A digest of the project's Python sources: equal digests mean the same code ran, with or without git
    (an installed copy, a dirty tree). The nightly's exact-reproduction check compares it."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def user_code_digests(modules: Iterable[Path]) -> dict[str, str]:
    """``{file: digest}`` for every file of a study's own modules (a ``.py`` file, or every file of a package):
    a study folder keeps them, so that a resume with changed user code can name the file that changed."""
    files = (f for m in modules for f in ([m] if m.is_file() else sorted(m.rglob("*"))) if f.is_file())
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in files if "__pycache__" not in f.parts}
