"""The cluster YAMLs and KubeRay manifests cannot be `ray up`-ed or applied here: they are validated instead
(they parse, hold the keys their tools require, and every `sam-study` command and study file they name exists),
and the `ray submit` entry point is run for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
RAY_CLUSTERS = sorted((REPO / "infra" / "ray").glob("cluster-*.yaml"))
KUBERAY = sorted((REPO / "infra" / "kuberay").glob("*.yaml"))
INFRA_TEXTS = sorted(p for p in (REPO / "infra").rglob("*") if p.is_file())


def subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)


def test_there_are_cluster_files_and_manifests() -> None:
    assert {p.name for p in RAY_CLUSTERS} == {"cluster-aws.yaml", "cluster-local.yaml"}
    assert {p.name for p in KUBERAY} == {"raycluster.yaml", "rayjob.yaml"}


@pytest.mark.parametrize("path", RAY_CLUSTERS, ids=lambda p: p.name)
def test_cluster_yaml_has_what_ray_up_needs(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    for key in (
        "cluster_name",
        "provider",
        "auth",
        "file_mounts",
        "setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    ):
        assert key in config, f"{path.name}: {key} missing"
    provider = config["provider"]
    if provider["type"] == "local":
        assert provider["head_ip"] and provider["worker_ips"]
    else:
        assert config["head_node_type"] in config["available_node_types"]
        assert any(t["resources"].get("GPU") for t in config["available_node_types"].values()), "GPU workers"
    assert "~/sam-study" in config["file_mounts"], "the project is copied to every node"
    assert any("pip install -e ." in c for c in config["setup_commands"]), "and installed there"
    head = " ".join(config["head_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head and "--dashboard-host=127.0.0.1" in head
    assert all("RAY_AUTH_MODE=token" in c for c in config["worker_start_ray_commands"] if "ray start" in c)


@pytest.mark.parametrize("path", KUBERAY, ids=lambda p: p.name)
def test_kuberay_manifest_is_well_formed(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    assert manifest["apiVersion"] == "ray.io/v1"
    spec = manifest["spec"]
    if manifest["kind"] == "RayJob":
        assert spec["entrypoint"].startswith("sam-study run ")
        spec = spec["rayClusterSpec"]
    else:
        assert manifest["kind"] == "RayCluster"
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    for group in spec["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "1"
        assert group["minReplicas"] <= group["maxReplicas"]


@pytest.mark.parametrize("path", INFRA_TEXTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_and_study_named_exists(path: Path) -> None:
    text = path.read_text()
    for command in re.findall(r"sam-study ([a-z]+)", text):
        assert command in subcommands(), f"{path.name} runs `sam-study {command}`, which does not exist"
    for study in re.findall(r"(studies/[\w.-]+\.yaml)", text):
        assert (REPO / study).exists(), f"{path.name} names {study}, which does not exist"


SUBMIT = REPO / "infra" / "ray" / "submit_study.py"


def test_submit_entry_point_imports_nothing_of_the_project() -> None:
    # `ray submit` copies this one file to the head: it must not import the project.
    assert not re.search(r"^\s*(from|import) pipeline", SUBMIT.read_text(), re.MULTILINE)


def test_submit_entry_point_runs_sam_study_run_in_the_project(tmp_path: Path) -> None:
    env = {**os.environ, "SAM_STUDY_DIR": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(SUBMIT), "studies/no-such-study.yaml"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # It reached `sam-study run` (which names the missing study file) with --address auto added.
    assert done.returncode == 2, done.stdout + done.stderr
    assert "studies/no-such-study.yaml: no such study file" in done.stderr


def test_submit_entry_point_says_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "SAM_STUDY_DIR": str(tmp_path / "absent")}
    done = subprocess.run(
        [sys.executable, str(SUBMIT), "studies/quick.yaml"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "does not exist" in done.stderr
    helped = subprocess.run([sys.executable, str(SUBMIT), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "ray submit" in helped.stdout
