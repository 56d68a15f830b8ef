"""The embedded Ray that `sam-study run` starts (``start_ray(None)``) listens on loopback only and refuses a caller
without the cluster's token."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import ray
from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

from pipeline.study import ray_cluster

pytestmark = pytest.mark.slow

import psutil  # noqa: E402 - Ray ships it (ray/thirdparty_files, on the path once ray is imported)


@pytest.fixture(scope="module")
def embedded_ray() -> Iterator[ray_cluster.Cluster]:
    """One embedded Ray for the module's tests (each only reads it); stopped with ray.shutdown, which stops the
    processes this ray.init started and nothing else."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        # A user who opted out of Ray's token authentication does not opt the study's own Ray out of it.
        monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
        try:
            yield ray_cluster.start_ray(None)
        finally:
            ray_cluster.stop_ray()


def _session_processes() -> list[psutil.Process]:
    """This process and every process below it: the GCS, the raylet, the agents and the workers ray.init started."""
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def _is_loopback(host: str) -> bool:
    address = ipaddress.ip_address(host.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _token() -> str:
    """The cluster token from the sources Ray reads, in its order: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, the default
    file (https://docs.ray.io/en/latest/ray-security/token-auth.html)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    return path.read_text().strip()


def test_every_ray_listener_is_on_loopback(embedded_ray: ray_cluster.Cluster) -> None:
    assert ray.get(ray.remote(lambda: 1).remote()) == 1  # a worker runs, so its own server listens too
    processes = _session_processes()
    pids = {p.pid for p in processes}
    names = {p.pid: p.name() for p in processes}
    listening = [c for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert {names[c.pid] for c in listening} >= {"gcs_server", "raylet"}, "Ray's servers were not found"
    exposed = [f"{names[c.pid]} (pid {c.pid}) on {c.laddr.ip}:{c.laddr.port}" for c in listening]
    exposed = [e for c, e in zip(listening, exposed, strict=False) if not _is_loopback(c.laddr.ip)]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"
    assert ray.util.get_node_ip_address() == "127.0.0.1"


def test_the_gcs_refuses_a_caller_without_the_token(embedded_ray: ray_cluster.Cluster) -> None:
    gcs = ray.get_runtime_context().gcs_address
    request = gcs_service_pb2.GetAllNodeInfoRequest()
    with grpc.insecure_channel(gcs) as channel:
        nodes = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetAllNodeInfo
        for metadata in ((), (("authorization", "Bearer not-the-token"),)):
            with pytest.raises(grpc.RpcError) as refused:
                nodes(request, metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        reply = nodes(request, metadata=(("authorization", f"Bearer {_token()}"),), timeout=30)
        assert len(reply.node_info_list) == 1
