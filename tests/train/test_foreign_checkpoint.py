"""A file at a trial's checkpoint path that sam-study did not write: the trial fails with a message naming the file
and the fix, runs nothing from it (checkpoints are read with ``weights_only=True``), and leaves it as it was."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from pipeline.train import TrialConfig, run_trial
from pipeline.train.checkpoint import FORMAT, checkpoint_path


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the file appears only if the pickle is executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class _Plain:
    def __init__(self) -> None:
        self.weights = [1.0, 2.0]


def _config(folder: Path) -> TrialConfig:
    return TrialConfig.model_validate(
        {"data": {"name": "synthetic"}, "epochs": 1, "checkpoint_dir": str(folder), "device": "cpu"}
    )


def test_a_pickle_that_would_run_code_is_refused_and_never_executed(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "ckpt")
    marker = tmp_path / "executed"
    path = checkpoint_path(cfg.checkpoint_dir)
    path.parent.mkdir(parents=True)
    # Our format marker and this trial's config, so that only the unpickler stands between the file and the code.
    torch.save({"format": FORMAT, "config": cfg.model_dump_json(), "extra": _Payload(marker)}, path)
    before = path.read_bytes()

    with pytest.raises(ValueError, match="not a readable sam-study checkpoint") as refused:
        run_trial(cfg)
    assert str(path) in str(refused.value) and "delete it" in str(refused.value)
    assert not marker.exists(), "the checkpoint's pickle was executed"
    assert path.read_bytes() == before, "the foreign file is left as it was"

    # The payload is live: an unrestricted load does run it (so the assertion above means something).
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: torch.save({"weights": torch.zeros(3)}, p), "not a sam-study trial checkpoint"),
        (lambda p: torch.save([1, 2, 3], p), "not a sam-study trial checkpoint"),
        (lambda p: torch.save(_Plain(), p), "not a readable sam-study checkpoint"),
        (lambda p: p.write_bytes(pickle.dumps({"format": FORMAT}, protocol=2)), "not a readable sam-study checkpoint"),
        (lambda p: p.write_bytes(bytes(range(256)) * 8), "not a readable sam-study checkpoint"),
        (lambda p: p.write_bytes(b""), "not a readable sam-study checkpoint"),
    ],
    ids=["tensor-dict", "list", "python-object", "bare-pickle", "random-bytes", "empty"],
)
def test_a_foreign_file_fails_the_trial_naming_it(tmp_path: Path, write, message: str) -> None:
    cfg = _config(tmp_path)
    path = checkpoint_path(tmp_path)
    write(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message) as refused:
        run_trial(cfg)
    assert str(path) in str(refused.value)
    assert path.read_bytes() == before
