"""Every use of Ray's private internals, in one place, with the Ray versions it was verified on.

Verified on Ray 2.60. A Ray upgrade may change any of these; ``tests/study/test_ray_security.py`` (loopback only)
and the fault tests (a study stopped by a failed write) fail when one stops working.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

VERIFIED_ON = ("2.60",)

# ray.init's private keyword: the embedded node's address. With single_machine() it stays 127.0.0.1.
LOOPBACK_NODE = {"_node_ip_address": "127.0.0.1"}


@contextlib.contextmanager
def single_machine() -> Iterator[None]:
    """Ray's single-machine mode while the embedded Ray starts, so that it listens on loopback only.

    On Linux, ray.init replaces the node address 127.0.0.1 by the machine's LAN address, and its GCS, raylet, agents
    and workers then listen on every interface (0.0.0.0, ::). In single-machine mode (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER
    =0, Ray's default on macOS and Windows) the node keeps 127.0.0.1 and every server binds to loopback. The processes
    ray.init starts read the variable; this one read it at import, hence the constant too. Both are restored after:
    a later ``--address`` connection must find its node by its real address (tests/study/test_ray_security.py)."""
    from ray._private import ray_constants

    before_env = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    before = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before
        if before_env is None:
            os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
        else:
            os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = before_env


class StopStudy(BaseException):
    """Carries an error out of a Ray Tune callback. Tune catches every Exception a callback raises, marks the trial
    failed and runs on (``ray.tune.execution.tune_controller``); a study that cannot record its trials must stop at
    once instead, so the error travels as a BaseException, which Tune lets through, and the driver unwraps it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error
