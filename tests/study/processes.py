"""The processes a test started, and only those.

A test that finds, signals or stops processes must never touch another's: a user's study may run beside the
suite, on the same machine, under the same user, with processes of the very same names (``raylet``,
``ray::ImplicitFunc``...). So nothing here looks processes up by name across the machine, and nothing runs
``ray stop`` (which stops every Ray on the machine). A test's processes are the tree below a process it
started itself:

- ``sam-study run`` without ``--address`` starts its embedded Ray from the driver: the GCS, the raylet and its
  agents are the driver's children, and the trial workers are the raylet's;
- a node of a test cluster is a ``ray start --block`` the test started in a session of its own, with its own
  Ray temp folder (so that not even Ray's address file, which ``ray.init()`` and ``--address auto`` read, is
  shared with the machine's other Ray instances): every process of that node is below it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.study.conftest import free_port

# A trial runs in a Ray worker whose title names the Tune trainable.
TRIAL_TITLE = "ray::ImplicitFunc"


def tree(pid: int) -> list[psutil.Process]:
    """Process ``pid`` and every process below it, as they are now (none when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def trial_workers(pid: int) -> list[psutil.Process]:
    """The Ray workers running a trial below process ``pid`` (a driver the test started, or a node's root)."""
    found = []
    for process in tree(pid):
        with contextlib.suppress(psutil.Error):
            if any(TRIAL_TITLE in part for part in process.cmdline()):
                found.append(process)
    return found


def running_trials(processes: Iterable[psutil.Process], keys: Iterable[str]) -> dict[str, psutil.Process]:
    """The trials running among ``processes``, by key: Ray Tune runs a trial in its trial folder, which is named
    after the key (ray_tune._trial_name), and a reused worker moves to the folder of each trial it runs."""
    folders = {key.replace("/", "_") + "_": key for key in keys}
    found = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if any(TRIAL_TITLE in part for part in process.cmdline()):
                folder = Path(process.cwd()).name
                key = next((k for prefix, k in folders.items() if folder.startswith(prefix)), None)
                if key is not None:
                    found[key] = process
    return found


def trial_with_a_checkpoint(pid: int, checkpoints: Path, keys: Iterable[str]) -> tuple[str, psutil.Process] | None:
    """A trial running below process ``pid`` that has written an epoch checkpoint under ``checkpoints``, and the
    Ray worker running it; None when there is none (yet)."""
    for key, worker in running_trials(trial_workers(pid), keys).items():
        if any(checkpoints.glob(f"{key}-*/trial.ckpt")):
            return key, worker
    return None


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_gone(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every one of ``processes`` has exited (a zombie counts as gone); returns those still alive."""
    processes = list(processes)
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if _alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def signal_all(processes: Iterable[psutil.Process], sig: signal.Signals) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)


def kill_tree(root: subprocess.Popen) -> None:
    """SIGKILL ``root`` (a process this test started, leader of its own session) and every process below it, all
    at once; returns once every one of them is gone. The tree is taken before the first signal: a process whose
    parent dies moves to init, out of the tree. Its process group catches one forked in the meantime. The group is
    stopped first: a driver must not record another trial while the tree is taken (a test checks the table it saw
    just before the kill)."""
    alive = root.poll() is None  # not yet reaped: its process group is still the one this test made
    if alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root.pid, signal.SIGSTOP)
    doomed = tree(root.pid)
    if alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root.pid, signal.SIGKILL)
    signal_all(doomed, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        root.wait(timeout=30)
    left = wait_gone(doomed, 30)
    assert not left, f"processes of the test survived SIGKILL: {left}"


# ------------------------------------------------------------------------------- a test's Ray cluster


@dataclass
class RayNode:
    """A node of a test cluster: ``ray start --block``, leader of its own session, with its node below it."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def processes(self) -> list[psutil.Process]:
        """The node's processes: its raylet, GCS (on the head), agents and workers, and ``ray start`` itself."""
        return tree(self.process.pid)

    def kill(self) -> None:
        """Lose the node as a machine is lost (and stop it as ``ray stop --force`` would, but this node only):
        SIGKILL to all of its processes at once."""
        kill_tree(self.process)


@dataclass
class RayCluster:
    address: str  # host:port of the head's GCS
    env: dict[str, str]  # what a driver joining the cluster needs in its environment (the cluster's token)
    temp_dir: Path
    nodes: list[RayNode]

    def node(self, name: str) -> RayNode:
        [node] = [n for n in self.nodes if n.name == name]
        return node


def _start_node(name: str, args: list[str], env: dict[str, str], folder: Path, timeout: float = 180) -> RayNode:
    ray = shutil.which("ray")
    assert ray, "the `ray` command is installed with ray[default]"
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [ray, "start", "--block", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, which Ray's processes of this node inherit
        )
    node = RayNode(name, process, log)
    deadline = time.monotonic() + timeout
    while b"Ray runtime started" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            node.kill()
            raise AssertionError(f"ray start {' '.join(args)} failed ({process.returncode}):\n{log.read_text()}")
        time.sleep(0.2)
    return node


@contextlib.contextmanager
def ray_cluster(nodes: dict[str, dict[str, float]], *, env: dict[str, str], cpus: int = 1) -> Iterator[RayCluster]:
    """A Ray cluster of ``len(nodes)`` nodes on this machine, on loopback, each with ``cpus`` CPUs and its own
    resources (the first is the head). Token authentication with a token of its own, given to its processes in
    the environment: nothing is read from or written to ~/.ray. Stopped at the end by killing the processes it
    started, and only those."""
    # A short path: Ray's socket paths inside it must stay under the 107 bytes of a Unix socket address.
    temp_dir = Path(tempfile.mkdtemp(prefix="sam-ray-", dir="/tmp"))
    env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    port = free_port()
    address = f"127.0.0.1:{port}"
    # No port of Ray's defaults, which another Ray on this machine may hold or want (the dashboard agent's 52365,
    # the Ray client's 10001, the dashboard's 8265, workers' 10002-19999): 0 is any free port.
    common = [
        "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--disable-usage-stats",
        "--dashboard-agent-listen-port", "0", "--min-worker-port", "0", "--max-worker-port", "0",
    ]  # fmt: skip
    head = [
        "--head", "--port", str(port), "--include-dashboard", "false", "--dashboard-port", str(free_port()),
        "--ray-client-server-port", str(free_port()),
    ]  # fmt: skip
    started: list[RayNode] = []
    try:
        for i, (name, resources) in enumerate(nodes.items()):
            role = head if i == 0 else ["--address", address]
            folder = temp_dir / name
            folder.mkdir()
            args = [*role, "--temp-dir", str(folder), "--resources", json.dumps(resources), *common]
            started.append(_start_node(name, args, env, temp_dir))
        yield RayCluster(address, {k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}, temp_dir, started)
    finally:
        try:
            for node in reversed(started):
                node.kill()
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)
