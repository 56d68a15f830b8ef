"""Suite-wide settings."""

import os
import sys
from pathlib import Path

import pytest
import torch

from pipeline.optim import REGISTRY

# The tests train tiny models: one intra-op thread is as fast, and it keeps the suite from stalling when
# another process holds the other core of a 2-core machine (oversubscribed threads slow it down tenfold).
torch.set_num_threads(1)

# The suite runs as `.venv/bin/python -m pytest` without an activated venv: the tests that start `sam-study`,
# `ray` or `mlflow` as commands must find the ones installed beside this interpreter.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(autouse=True)
def _optimizer_registry_as_shipped():
    """A rule a test registers (a user's rule, a deliberately broken one) is gone after it: every later test, and
    the Ray workers they start, see the shipped registry."""
    shipped = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(shipped)
