"""The ecosystem adapters: a local image folder (``pipeline.data.image_folder``, Pillow only) through `sam-study run`
on a real embedded Ray and MLflow, and timm and torchvision architectures by name (``pipeline.models.zoo``, the
``vision`` extra). The architectures' tests run where timm and torchvision import beside the installed torch and are
skipped elsewhere; without them, the adapters say which extra to install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline.cli import main
from pipeline.data.image_folder import image_folder
from pipeline.models.zoo import timm_model, torchvision_model
from tests.study.study_files import run_to_end
from tests.study.vision_env import ROOT, VISION_RELEASES

CLASSES, PER_CLASS, SIDE = ("cat", "dog", "owl"), 10, 12

SETTINGS = """\
training: {{lr: 0.02, epochs: 2, batch_size: 8}}
methods:
  - name: sgd
  - name: sam
    hparams: {{rho: 0.05}}
reference: sam
evaluation: {{seeds: [0, 1]}}
resources: {{cpu: 1}}
retries: 0
"""
IMAGES = '{{factory: "pipeline.data.image_folder:image_folder", args: {{root: "{root}", size: 16}}}}'
STUDY = f"name: images\ndata: {IMAGES}\nmodel: {{model}}\n{SETTINGS}"
RESNET = "{name: resnet18}"
TIMM = '{factory: "pipeline.models.zoo:timm_model", args: {name: resnet10t}}'


def vision_libraries() -> bool:
    """Whether timm and torchvision both import beside the installed torch (a mismatched pair fails to)."""
    try:
        import timm  # noqa: F401
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        return False
    return True


needs_vision = pytest.mark.skipif(not vision_libraries(), reason="timm and torchvision (the vision extra) not usable")


def write_images(root: Path) -> Path:
    """``root/<class>/<n>.png``: small RGB images whose mean colour depends on the class."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for n in range(PER_CLASS):
            pixels = rng.normal(60 + 60 * label, 30, size=(SIDE, SIDE, 3)).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{n}.png")
    return root


def test_an_image_folder_is_read_split_by_seed_and_standardised(tmp_path: Path) -> None:
    root = write_images(tmp_path / "images")
    data = image_folder(seed=0, root=str(root), size=8)
    assert data.num_classes == 3 and data.input_shape == (3, 8, 8) and data.is_image
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 6)
    assert sorted(torch.bincount(data.test.y).tolist()) == [2, 2, 2], "stratified by class"
    assert abs(float(data.train.x.mean())) < 1e-4, "standardised with the training split's statistics"
    again, other = image_folder(seed=0, root=str(root), size=8), image_folder(seed=1, root=str(root), size=8)
    assert torch.equal(again.train.x, data.train.x) and not torch.equal(other.train.x, data.train.x)
    with pytest.raises(ValueError, match="absolute path"):
        image_folder(seed=0, root="images")


@needs_vision
def test_timm_and_torchvision_models_by_name_and_the_nearest_name_when_misspelt() -> None:
    x = torch.randn(2, 3, 16, 16)
    assert timm_model((3, 16, 16), 5, name="resnet10t")(x).shape == (2, 5)
    assert torchvision_model((3, 16, 16), 5, name="mobilenet_v3_small")(x).shape == (2, 5)
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        timm_model((3, 16, 16), 5, name="resnet18x")
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        torchvision_model((3, 16, 16), 5, name="resnet181")


@pytest.mark.skipif(vision_libraries(), reason="timm and torchvision are installed")
def test_without_the_vision_extra_the_adapters_name_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ImportError, match=r"pip install -e \"\.\[vision\]\""):
        timm_model((3, 16, 16), 5, name="resnet10t")
    with pytest.raises(ImportError, match=r"pip install -e \"\.\[vision\]\""):
        torchvision_model((3, 16, 16), 5, name="resnet18")
    study = tmp_path / "images.yaml"
    study.write_text(STUDY.format(root=write_images(tmp_path / "images"), model=TIMM))
    assert main(["run", str(study), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model.factory" in err and "[vision]" in err, err
    assert not (tmp_path / "out").exists()


@needs_vision
def test_a_misspelt_architecture_is_refused_at_the_door(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "images.yaml"
    study.write_text(STUDY.format(root=write_images(tmp_path / "images"), model=TIMM.replace("resnet10t", "resnet10")))
    assert main(["run", str(study), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model.factory" in err and "did you mean" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_study_of_a_local_image_folder_runs(tmp_path: Path) -> None:
    study = tmp_path / "images.yaml"
    study.write_text(STUDY.format(root=write_images(tmp_path / "images"), model=RESNET))
    out = tmp_path / "out"
    done = run_to_end("run", str(study), "--out", str(out), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_parquet(out / "images" / "trials.parquet")
    assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
    assert sorted(zip(table.method, table.seed, strict=True)) == [("sam", 0), ("sam", 1), ("sgd", 0), ("sgd", 1)]
    assert "image_folder" in table.config_json.iloc[0] and (table.epochs_run == 2).all()
    assert (out / "images" / "report.md").exists()
    assert not (out / "images" / "code.json").exists(), "the adapters are the project's own code, not the user's"


@pytest.mark.slow
def test_timm_and_torchvision_architectures_run_a_suite_where_the_vision_extra_is_installed(
    tmp_path: Path, vision_python: Path
) -> None:
    # The adapters' own tests, run where timm and torchvision import (they are skipped beside the CPU build of torch).
    here = Path(__file__).relative_to(ROOT)
    tests = [vision_python, "-m", "pytest", str(here), "-m", "not slow", "-p", "no:cacheprovider", "-q", "-n", "0"]
    done = subprocess.run(tests, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0 and "3 passed, 1 skipped" in done.stdout + done.stderr, done.stdout + done.stderr

    suite = tmp_path / "zoo.yaml"
    suite.write_text(ZOO_SUITE.format(root=write_images(tmp_path / "images")))
    out = tmp_path / "out"
    done = run_to_end("run", str(suite), "--out", str(out), timeout=600, python=vision_python)
    assert done.returncode == 0, done.stdout + done.stderr
    for task, model in (("timm", "resnet10t"), ("torchvision", "shufflenet_v2_x0_5")):
        table = pd.read_parquet(out / "zoo" / task / "trials.parquet")
        assert (table.status == "ok").all(), table[["trial_key", "status", "error"]]
        assert sorted(zip(table.method, table.seed, strict=True)) == [("sam", 0), ("sam", 1), ("sgd", 0), ("sgd", 1)]
        assert model in table.config_json.iloc[0] and (table.epochs_run == 2).all()
        assert table["version.torch"].str.startswith(VISION_RELEASES["torch"]).all(), "ran in the vision environment"
    assert (out / "zoo" / "report.md").exists()


ZOO_TASKS = """\
tasks:
  - name: timm
    data: IMAGES
    model: {{factory: "pipeline.models.zoo:timm_model", args: {{name: resnet10t}}}}
  - name: torchvision
    data: IMAGES
    model: {{factory: "pipeline.models.zoo:torchvision_model", args: {{name: shufflenet_v2_x0_5}}}}
"""
ZOO_SUITE = "name: zoo\n" + SETTINGS + ZOO_TASKS.replace("IMAGES", IMAGES)  # formatted with the images' root
