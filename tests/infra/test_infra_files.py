"""The cluster YAMLs, KubeRay manifests, MLflow server files and nightly schedules cannot be `ray up`-ed,
applied, started or scheduled here: they are validated instead (they parse, hold the keys their tools require,
and every `sam-study` command, option and study file they name exists), and the `ray submit` entry point is
run for real."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.cli.main import build_parser

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
        # The dashboard listens on the head's loopback only: the submitter must run beside it.
        assert spec["submissionMode"] == "SidecarMode"
        spec = spec["rayClusterSpec"]
    else:
        assert manifest["kind"] == "RayCluster"
    assert spec["authOptions"] == {"mode": "token"}, "KubeRay shares one Ray token among the pods"
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
        check=False,
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
        [sys.executable, str(SUBMIT), "studies/quick.yaml"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "does not exist" in done.stderr
    helped = subprocess.run(
        [sys.executable, str(SUBMIT), "--help"], check=False, capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0 and "ray submit" in helped.stdout


# ------------------------------------------------------------------------------ the MLflow server

MLFLOW = REPO / "infra" / "mlflow"
COMPOSE = MLFLOW / "compose.yaml"
ENV_EXAMPLE = MLFLOW / "mlflow.env.example"
PLACEHOLDER = "change-me"


def env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of a compose .env / systemd EnvironmentFile (commented-out ones are not set)."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def interpolate(node: object, env: dict[str, str]) -> object:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} in every value, with env as the .env file."""

    def value(match: re.Match[str]) -> str:
        name, op, default = match["name"], match["op"], match["arg"]
        assert env.get(name) or op != ":?", f"compose refuses to start without {name}"
        return env.get(name) or (default if op == ":-" else "")

    if isinstance(node, dict):
        return {key: interpolate(item, env) for key, item in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, str):
        return re.sub(r"\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}", value, node)
    return node


def unit_file(path: Path) -> configparser.ConfigParser:
    # strict=False: systemd allows a key more than once (After=, ExecStartPre=); no interpolation: %n is systemd's.
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd's keys are case-sensitive
    unit.read_string(path.read_text())
    return unit


def test_compose_runs_mlflow_on_postgres_with_proxied_artifacts() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    postgres, mlflow = compose["services"]["postgres"], compose["services"]["mlflow"]
    assert re.fullmatch(r"postgres:1[56](\.\d+)?", postgres["image"])
    assert all(port.startswith("127.0.0.1:") for port in postgres.get("ports", [])), "no database on the network"
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"] and "--serve-artifacts" in command
    store = command[command.index("--backend-store-uri") + 1]
    # The image installs psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which it lacks.
    assert store.startswith("postgresql+psycopg2://") and "@postgres:5432/" in store
    artifacts = command[command.index("--artifacts-destination") + 1]
    mounts = [volume.split(":")[1] for volume in mlflow["volumes"] if volume.split(":")[0] in compose["volumes"]]
    assert any(artifacts.startswith(mount) for mount in mounts), "artifacts on a named volume"
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/health" in " ".join(mlflow["healthcheck"]["test"])
    assert mlflow["build"] == "."
    assert re.search(r"^FROM ghcr\.io/mlflow/mlflow:v3\.17\.2$", (MLFLOW / "Dockerfile").read_text(), re.MULTILINE)
    assert "psycopg2-binary==" in (MLFLOW / "Dockerfile").read_text()


@pytest.mark.parametrize("env", [{"POSTGRES_PASSWORD": "x"}, env_file(ENV_EXAMPLE)], ids=["defaults", "env-example"])
def test_compose_publishes_mlflow_on_loopback_only(env: dict[str, str]) -> None:
    compose = interpolate(yaml.safe_load(COMPOSE.read_text()), env)
    assert compose["services"]["mlflow"]["ports"] == ["127.0.0.1:5000:5000"]


@pytest.mark.parametrize("path", INFRA_TEXTS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_password_or_secret_is_committed(path: Path) -> None:
    text = path.read_text()
    for key, value in re.findall(r"^[#\s-]*(\w*(?:PASSWORD|SECRET_KEY)\w*)\s*[:=][ \t]*(.*)$", text, re.MULTILINE):
        value = value.strip().strip("'\"")
        assert value in ("", PLACEHOLDER) or value.startswith("${"), f"{path.name}: {key} holds a literal {value!r}"
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), f"{path.name}: a password inside a URI"


def test_mlflow_unit_runs_the_same_server_bound_to_loopback_by_default() -> None:
    unit = unit_file(MLFLOW / "mlflow-server.service")
    service = unit["Service"]
    assert "postgresql.service" in unit["Unit"]["After"] and unit["Install"]["WantedBy"] == "multi-user.target"
    assert service["User"] == "mlflow" and service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/sam-study/mlflow.env"
    command = service["ExecStart"]
    assert " server " in command and "--serve-artifacts" in command and "--host ${MLFLOW_HOST}" in command
    env = env_file(ENV_EXAMPLE)
    assert set(re.findall(r"\$\{(\w+)\}", command)) <= set(env), "ExecStart uses a variable the env file lacks"
    assert env["MLFLOW_HOST"] == "127.0.0.1" and env["MLFLOW_BIND"] == "127.0.0.1"
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")


def test_basic_auth_is_documented_but_off() -> None:
    compose, unit = COMPOSE.read_text(), (MLFLOW / "mlflow-server.service").read_text()
    assert "basic-auth" not in yaml.safe_load(compose)["services"]["mlflow"]["command"]
    assert "basic-auth" not in unit_file(MLFLOW / "mlflow-server.service")["Service"]["ExecStart"]
    assert re.search(r"^\s*#.*basic-auth", compose, re.MULTILINE), "documented in a comment"
    assert re.search(r"^#.*--app-name basic-auth", unit, re.MULTILINE), "documented in a comment"
    auth = configparser.ConfigParser(interpolation=None)
    auth.read_string((MLFLOW / "basic_auth.ini").read_text())
    assert auth["mlflow"]["database_uri"].startswith("sqlite:////var/lib/mlflow/"), "users kept on the data volume"


# ----------------------------------------------------------------------------- the nightly schedules

NIGHTLY = REPO / "infra" / "nightly"
NIGHTLY_FILES = sorted(p for p in NIGHTLY.iterdir() if p.is_file())


def command_lines(path: Path) -> list[str]:
    """The file's lines (backslash continuations joined) and, in YAML, every list of strings joined by spaces,
    a container's command + args too: the places a command line can be written."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    lines = text.splitlines()

    def joined(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("command"), list) and isinstance(node.get("args"), list):
                lines.append(" ".join(map(str, node["command"] + node["args"])))
            for item in node.values():
                joined(item)
        elif isinstance(node, list):
            if node and all(isinstance(item, str) for item in node):
                lines.append(" ".join(node))
            for item in node:
                joined(item)

    if path.suffix == ".yaml":
        for document in yaml.safe_load_all(text):
            joined(document)
    return lines


def invocations(path: Path) -> list[tuple[str, str]]:
    """(subcommand, its arguments) of every `sam-study run` and `sam-study nightly` in the file."""
    found = []
    for line in command_lines(path):
        for match in re.finditer(r"sam-study (run|nightly)\b(.*)", line):
            found.append((match[1], re.split(r"&&|\|\||[;|>]", match[2])[0]))
    return found


def unknown_options(path: Path) -> list[str]:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    return [
        f"sam-study {command} {option}"
        for command, arguments in invocations(path)
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", arguments)
        if option not in commands[command]._option_string_actions
    ]


@pytest.mark.parametrize("path", INFRA_TEXTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_option_passed_to_run_or_nightly_exists(path: Path) -> None:
    assert unknown_options(path) == []


def test_an_unknown_option_is_caught(tmp_path: Path) -> None:
    manifest = tmp_path / "job.yaml"
    manifest.write_text('command: ["sam-study"]\nargs: [nightly, studies/nightly.yaml, --tracking-url, x]\n')
    assert unknown_options(manifest) == ["sam-study nightly --tracking-url"]


@pytest.mark.parametrize("path", [p for p in NIGHTLY_FILES if p.suffix != ".timer"], ids=lambda p: p.name)
def test_every_schedule_runs_the_nightly_study_into_mlflow(path: Path) -> None:
    arguments = [args.split() for command, args in invocations(path) if command == "nightly"]
    assert any(a[0] == "studies/nightly.yaml" and "--out" in a and "--tracking-uri" in a for a in arguments)


def test_crontab_line_runs_the_nightly_every_night() -> None:
    lines = [line for line in (NIGHTLY / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    settings = dict(line.split("=", 1) for line in lines if re.match(r"\w+=", line))
    (job,) = [line for line in lines if not re.match(r"\w+=", line)]
    fields = job.split(maxsplit=5)
    assert all(re.fullmatch(r"[\d*,/-]+", field) for field in fields[:5]), fields[:5]
    assert "sam-study nightly studies/nightly.yaml " in fields[5]
    assert "%" not in fields[5], "cron turns % into a newline"
    assert settings["MAILTO"], "cron mails what the job prints"


@pytest.mark.parametrize(
    ("name", "sections"),
    [
        ("mlflow/mlflow-server.service", {"Unit", "Service", "Install"}),
        ("nightly/sam-study-nightly.service", {"Unit", "Service"}),
        ("nightly/sam-study-nightly.timer", {"Unit", "Timer", "Install"}),
    ],
)
def test_systemd_units_have_their_sections(name: str, sections: set[str]) -> None:
    assert sections <= set(unit_file(REPO / "infra" / name).sections())


def test_nightly_service_is_a_oneshot_started_by_the_timer() -> None:
    service = unit_file(NIGHTLY / "sam-study-nightly.service")["Service"]
    assert service["Type"] == "oneshot"
    assert re.match(r"/\S+/sam-study nightly studies/nightly\.yaml ", service["ExecStart"]), "an absolute path"
    assert "OnFailure=" in (NIGHTLY / "sam-study-nightly.service").read_text(), "the failure hook is documented"
    timer = unit_file(NIGHTLY / "sam-study-nightly.timer")
    assert timer["Timer"]["Persistent"] == "true" and timer["Install"]["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):
        calendar = subprocess.run(
            ["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]], capture_output=True, check=False
        )
        assert calendar.returncode == 0, calendar.stderr


def test_cronjob_fails_loudly_and_never_overlaps() -> None:
    cron = yaml.safe_load((NIGHTLY / "cronjob.yaml").read_text())
    assert (cron["apiVersion"], cron["kind"]) == ("batch/v1", "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and len(cron["spec"]["schedule"].split()) == 5
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["template"]["spec"]["restartPolicy"] == "Never"
    container = job["template"]["spec"]["containers"][0]
    assert " ".join(container["command"] + container["args"]).startswith("sam-study nightly studies/nightly.yaml ")


def test_raycronjob_runs_the_nightly_as_a_rayjob() -> None:
    manifest = yaml.safe_load((NIGHTLY / "raycronjob.yaml").read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayCronJob")
    assert len(manifest["spec"]["schedule"].split()) == 5
    job = manifest["spec"]["jobTemplate"]  # KubeRay 1.6: the RayJob spec itself, not {metadata, spec}
    assert job["entrypoint"].startswith("sam-study nightly studies/nightly.yaml --address auto ")
    if job["rayClusterSpec"]["headGroupSpec"]["rayStartParams"].get("dashboard-host") == "127.0.0.1":
        assert job["submissionMode"] == "SidecarMode", "a submitter in another pod cannot reach a loopback dashboard"


def test_workflow_runs_the_nightly_on_a_schedule_and_keeps_the_report() -> None:
    workflow = yaml.safe_load((NIGHTLY / "github-actions.yaml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 (PyYAML) reads the key `on` as True
    assert len(triggers["schedule"][0]["cron"].split()) == 5 and "workflow_dispatch" in triggers
    steps = workflow["jobs"]["nightly"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert 'python3 -m pip install "torch==2.13.0" && python3 -m pip install -e .' in runs, "as the README installs"
    assert any(run.startswith("sam-study nightly studies/nightly.yaml ") for run in runs)
    (upload,) = [step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    assert "regression.md" in upload["with"]["path"] and "regression.json" in upload["with"]["path"]
