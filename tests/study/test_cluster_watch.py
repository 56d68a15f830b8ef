"""``ClusterWatch`` on a real socket: quiet while the port answers, and within seconds of it going away, first an
interruption of the main thread and then, when nobody takes the loss over, ``on_stuck``."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from pipeline.study.cluster_watch import GRACE_S, MISSES, ClusterWatch


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


def address(server: socket.socket) -> str:
    host, port = server.getsockname()
    return f"{host}:{port}"


def test_a_live_gcs_is_no_loss(listener: socket.socket) -> None:
    interrupted, stuck = threading.Event(), threading.Event()
    watch = ClusterWatch(address(listener), stuck.set, every_s=0.05, interrupt=interrupted.set).start()
    time.sleep(0.05 * (MISSES + 4))
    assert not interrupted.is_set() and not stuck.is_set()
    assert watch.confirm_lost() is False and watch.lost is None
    watch.stop()


def test_a_gone_gcs_interrupts_then_calls_on_stuck(listener: socket.socket) -> None:
    interrupted, stuck = threading.Event(), threading.Event()
    where = address(listener)
    watch = ClusterWatch(where, stuck.set, every_s=0.05, interrupt=interrupted.set).start()
    listener.close()
    assert interrupted.wait(5), "no interruption after the port went away"
    assert where in (watch.lost or "")
    assert not stuck.is_set()  # the main thread has its grace period first
    assert stuck.wait(GRACE_S + 5), "on_stuck was not called when nobody took the loss over"


def test_the_main_thread_taking_the_loss_over_stops_on_stuck(listener: socket.socket) -> None:
    interrupted, stuck = threading.Event(), threading.Event()
    watch = ClusterWatch(address(listener), stuck.set, every_s=0.05, interrupt=interrupted.set).start()
    listener.close()
    assert interrupted.wait(5)
    assert watch.confirm_lost() is True
    assert not stuck.wait(GRACE_S + 1)


def test_an_error_is_confirmed_as_a_loss_at_once_when_the_port_is_gone(listener: socket.socket) -> None:
    """The main thread may fail on the dead cluster before the watch has noticed: confirm_lost probes itself."""
    interrupted = threading.Event()
    # every_s: the watch's own first probe comes after confirm_lost has stopped it; confirm_lost waits every_s / 3
    # between its probes.
    watch = ClusterWatch(address(listener), None, every_s=3, interrupt=interrupted.set).start()
    listener.close()
    assert watch.confirm_lost() is True and watch.lost is not None
    assert not interrupted.is_set()


def test_a_stopped_watch_never_interrupts(listener: socket.socket) -> None:
    interrupted = threading.Event()
    watch = ClusterWatch(address(listener), None, every_s=0.05, interrupt=interrupted.set).start()
    watch.stop()  # as the driver does before it shuts an embedded Ray down
    listener.close()
    assert not interrupted.wait(0.05 * (MISSES + 6))
