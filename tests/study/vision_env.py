"""A Python environment with the ``vision`` extra (timm and torchvision), for the tests of the ecosystem adapters.

PyPI's Linux wheels of torchvision are CUDA builds, which load only beside the CUDA build of the torch they were
made for; the CPU build of torch this project installs cannot import them. The environment, ``.venv-vision`` in the
clone (ignored by git, made once and reused), holds the releases below, the newest pair on the package index; the
CUDA build of torch runs on a machine without a GPU. Everything else (Ray, MLflow, this project, pytest) comes from
the interpreter running the tests, whose site-packages follow the environment's own on its import path.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = ROOT / ".venv-vision"
VISION_RELEASES = {"torch": "2.14.1", "torchvision": "0.29.1", "timm": "1.0.31"}  # tested together (docs/tasks.md)
CHECK = "import torch, torchvision, timm, ray, mlflow, pipeline; print(torch.__version__, torchvision.__version__)"


def vision_python() -> Path | str:
    """The environment's interpreter, made if missing; a string saying why when it cannot be made."""
    python = ENVIRONMENT / "bin" / "python"
    if python.exists() and _imports(python):
        return python
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(ENVIRONMENT)],
        [str(python), "-m", "pip", "install", "--quiet", *(f"{n}=={v}" for n, v in VISION_RELEASES.items())],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=1200, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            return f"{' '.join(step[:5])} ... failed ({done.returncode}): {done.stderr[-2000:]}"
    site_packages = Path(sysconfig.get_paths(vars={"base": str(ENVIRONMENT)})["purelib"])
    here = sysconfig.get_paths()["purelib"]  # after the environment's own: its torch comes first
    (site_packages / "zz-tests-interpreter.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    return python if _imports(python) else f"{python} cannot import the vision stack with {here} after it"


def _imports(python: Path) -> bool:
    done = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, check=False, timeout=300)
    return done.returncode == 0
