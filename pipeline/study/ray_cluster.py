"""The Ray instance a study runs on: an embedded local Ray on loopback, or a cluster at ``--address``."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ray

from pipeline.references import code_modules
from pipeline.study._ray_compat import LOOPBACK_NODE, single_machine


class ClusterError(RuntimeError):
    """The Ray cluster named by --address cannot be reached."""

    @classmethod
    def unreachable(cls, address: str, error: BaseException) -> ClusterError:
        return cls(
            f"cannot connect to the Ray cluster at --address {address} ({error}); start it with "
            "`ray start --head`, or use --address auto on a node of the cluster"
        )


@dataclass(frozen=True)
class Cluster:
    nodes: int
    cpus: float
    gpus: float
    address: str  # "local" for an embedded instance
    gcs_address: str | None = None  # host:port of the head's GCS; None through Ray Client (ray://)


def start_ray(address: str | None, code: Sequence[Path] = ()) -> Cluster:
    """Connect to ``address`` (``auto``, ``ray://...``, ``host:port``) or start an embedded local Ray
    with this machine's CPUs, listening on loopback only. The modules of the ``code`` folders (a study's own data
    and model factories) go to every worker through Ray's runtime_env, so that a cluster needs no copy of them."""
    runtime_env = shipped_code(code)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Ctrl-C must stop the study even when it lands as a phase's last trial ends: Tune's own handler only ends
    # the phase, which then looks complete. Python's KeyboardInterrupt reaches the driver, which keeps every
    # recorded trial and exits 130.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    if address is None:
        # The embedded Ray always authenticates: without RAY_AUTH_MODE (an opt-out left in the environment is
        # dropped), ray.init turns token authentication on for a new local Ray and makes ~/.ray/auth_token if missing.
        if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token":
            del os.environ["RAY_AUTH_MODE"]
        ensure_auth_token()
        with single_machine():
            ray.init(
                # "local": a new instance even when `ray start` left a cluster running on this machine, which a
                # bare ray.init() would join (its trials would then land on that cluster's nodes).
                address="local",
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
                runtime_env=runtime_env,
                **LOOPBACK_NODE,
            )
    else:
        _check_reachable(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, runtime_env=runtime_env)
        except ConnectionError as error:
            raise ClusterError.unreachable(address, error) from None
    resources = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    gcs = None if (address or "").startswith("ray://") else ray.get_runtime_context().gcs_address
    return Cluster(nodes, resources.get("CPU", 0.0), resources.get("GPU", 0.0), address or "local", gcs)


def ensure_auth_token() -> None:
    """Make Ray's default token file if no token is set, atomically: two studies that start their first embedded Ray
    at once would otherwise each write a token of their own, and one Ray would then refuse the other's clients."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    path = Path.home() / ".ray" / "auth_token"
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".auth_token.{os.getpid()}")
    draft.write_text(secrets.token_hex(32))  # the form of Ray's own tokens
    draft.chmod(0o600)
    try:
        os.link(draft, path)  # fails if another process made it first: theirs is kept
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def shipped_code(folders: Sequence[Path]) -> dict[str, list[str]] | None:
    """The runtime_env that ships the top-level modules and packages of ``folders`` (None when there are none):
    ``py_modules`` puts each on every worker's import path, as the folders are on the driver's."""
    modules = [str(module) for module in code_modules(folders)]
    return {"py_modules": modules} if modules else None


def _check_reachable(address: str) -> None:
    """A quick TCP probe of ``host:port``: ray.init would otherwise retry for minutes before failing."""
    if address == "auto" or address.startswith("ray://") or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return
    except (OSError, ValueError) as error:
        raise ClusterError.unreachable(address, error) from None


def stop_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()


def abandon_ray() -> None:
    """Forget a Ray instance that is gone: its shutdown, also run at exit, would wait for the GCS."""
    atexit.unregister(ray.shutdown)


def node_label() -> str:
    """Where this process runs: host, IP and Ray node id (several nodes may share a host and an IP)."""
    node_id = ray.get_runtime_context().get_node_id()
    return f"{socket.gethostname()}/{ray.util.get_node_ip_address()}/{node_id[:12]}"
