"""Fixtures of the study tests: a real MLflow tracking server on a free loopback port, on SQLite or on a
throwaway PostgreSQL cluster."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

POSTGRES_HINT = (
    "PostgreSQL's server is not installed: run `bash infra/ci/system-packages.sh` "
    "(Debian/Ubuntu: apt-get install postgresql), so that initdb and pg_ctl are on PATH "
    "or under /usr/lib/postgresql/<version>/bin"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class MlflowServer:
    uri: str
    process: subprocess.Popen[bytes]  # `mlflow server`, leader of its own process group

    def kill(self) -> None:
        """SIGKILL the server as a crash would: with uvicorn and the job runner it started, which would otherwise
        go on serving (killing `mlflow server` alone leaves them behind)."""
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=30)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@contextlib.contextmanager
def running_mlflow_server(backend_store_uri: str, folder: Path, *, timeout: float = 120) -> Iterator[str]:
    """``mlflow server`` on ``backend_store_uri`` at a free loopback port, its artifacts and log in ``folder``;
    yields its http URI once /health answers (the first start on an empty database creates the schema)."""
    with mlflow_server_process(backend_store_uri, folder, timeout=timeout) as server:
        yield server.uri


@contextlib.contextmanager
def mlflow_server_process(
    backend_store_uri: str, folder: Path, *, port: int | None = None, timeout: float = 120
) -> Iterator[MlflowServer]:
    """As ``running_mlflow_server``, at ``port`` when given, and with the server's process. Another server started
    later on the same store and folder serves the same runs and artifacts (its log is appended to the same file)."""
    port = port or free_port()
    log_path = folder / "server.log"
    with log_path.open("a") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                backend_store_uri,
                "--artifacts-destination",
                str(folder / "server-artifacts"),
                "--serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # its own process group: stopping it stops uvicorn and the job runner too
        )
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"mlflow server did not start:\n{log_path.read_text()}") from None
                time.sleep(0.5)
        yield MlflowServer(uri, server)
    finally:
        # The test is over and nothing it checks is in flight: SIGKILL to the group (the server, uvicorn and the job
        # runner, whose consumers ignore SIGTERM), at once rather than after a graceful stop of seconds.
        _signal_group(server, signal.SIGKILL)
        server.wait()


@pytest.fixture(scope="session")
def mlflow_server_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's ``mlflow_server`` keeps its store, its artifacts and its log."""
    return tmp_path_factory.mktemp("mlflow-server")


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_folder: Path) -> Iterator[str]:
    """One ``mlflow server`` (SQLite store) for the session's studies: a server takes seconds to start. Each study
    logs from a folder of its own, so under a parent run of its own; a test that counts the runs of an experiment
    gives its study a name of its own."""
    with running_mlflow_server(f"sqlite:///{mlflow_server_folder / 'server.db'}", mlflow_server_folder) as uri:
        yield uri


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail under CI, which must run every test."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test may not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def vision_python() -> Path:
    """The interpreter of an environment with timm and torchvision (``tests.study.vision_env``), made on first use."""
    from tests.study.vision_env import vision_python as made

    python = made()
    if isinstance(python, str):
        _unavailable(f"no environment with the vision extra: {python}")
    return python


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: the one on PATH, else Debian's newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if on_path := shutil.which("initdb"):
        candidates.append(Path(on_path).parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=lambda p: _version_key(Path(p).parent.name), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


@pytest.fixture
def postgres_database(tmp_path: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 at a free port, with an empty database ``mlflow``;
    yields its URL (``postgresql://postgres@127.0.0.1:PORT/mlflow``, trust authentication).

    initdb and postgres refuse to run as root: as root they run as the ``postgres`` user the Debian
    package creates, in a folder under /tmp that user owns (pytest's tmp_path is closed to it)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        _unavailable(POSTGRES_HINT)
    try:
        import psycopg2
    except ImportError:
        _unavailable("psycopg2 is not installed: pip install -e '.[dev]'")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root, and there is no `postgres` user to run PostgreSQL as; " + POSTGRES_HINT)
        as_user = ["runuser", "-u", "postgres", "--"]

    root = Path(tempfile.mkdtemp(prefix="sam-study-postgres-", dir="/tmp"))
    data, sockets, log = root / "data", root / "sockets", root / "postgres.log"
    sockets.mkdir()
    if owner is not None:
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def pg(*args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [*as_user, *args],
            check=False,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise AssertionError(
                f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{server_log}"
            )

    port = free_port()
    try:
        pg(
            str(bin_dir / "initdb"),
            "-D", str(data),
            "--auth=trust",
            "-U", "postgres",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        # fsync off: a throwaway cluster has nothing to keep after a crash, and the test runs faster.
        options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off"
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        connect = {"host": "127.0.0.1", "port": port, "user": "postgres", "connect_timeout": 5}
        deadline = time.monotonic() + 60
        while True:
            try:
                admin = psycopg2.connect(dbname="postgres", **connect)
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"PostgreSQL does not accept connections:\n{log.read_text()}") from None
                time.sleep(0.5)
        try:
            admin.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with admin.cursor() as cursor:
                cursor.execute("CREATE DATABASE mlflow")
        finally:
            admin.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/mlflow"
    finally:
        try:
            if (data / "postmaster.pid").exists():  # a server runs (even one whose start timed out)
                pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def diverge_study(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """``sam-study run`` of study_files.DIVERGE_STUDY into ``OUT`` (its ``args[-1]``), once for the tests that
    check it: a diverging trial's record (test_faults) and ASHA's stopped trials (test_study_e2e)."""
    from tests.study.study_files import DIVERGE_STUDY, run_to_end

    folder = tmp_path_factory.mktemp("diverge")
    study = folder / "diverge.yaml"
    study.write_text(DIVERGE_STUDY)
    return run_to_end("run", str(study), "--out", str(folder / "out"), timeout=900)


@pytest.fixture
def postgres_mlflow_server(tmp_path: Path, postgres_database: str) -> Iterator[str]:
    """``mlflow server`` whose backend store is the ``postgres_database`` fixture's database; yields its http URI.

    The store URI names the driver: SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, and the
    project installs psycopg2 (``psycopg2-binary``)."""
    store = postgres_database.replace("postgresql://", "postgresql+psycopg2://", 1)
    with running_mlflow_server(store, tmp_path) as uri:
        yield uri
