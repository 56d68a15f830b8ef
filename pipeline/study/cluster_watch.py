"""Noticing at once that the Ray instance under a study is gone.

When the GCS (Ray's head process) dies, Ray's own client in the driver waits 60 seconds for it, prints "Failed to
connect to GCS within 60 seconds" and ends the process with exit code 1, wherever it was. A study should rather say
within seconds what was lost and how to resume. ``ClusterWatch`` probes the GCS's port from a thread. After a few
refused probes in a row it interrupts the main thread, where the driver turns the interruption into ``RayLost``;
when the main thread is blocked inside Ray's C++ core and cannot take the interruption (the usual case: Tune waits
on the dead GCS), the watch calls ``on_stuck`` after a grace period, which reports and ends the process.
"""

from __future__ import annotations

import _thread
import socket
import threading
import time
from collections.abc import Callable

PROBE_EVERY_S = 1.0
MISSES = 3  # probes in a row that must fail: one refused connection may be a restart of the listener
PROBE_TIMEOUT_S = 2.0
GRACE_S = 3.0  # how long the main thread has to take the interruption itself


class ClusterWatch:
    """A daemon thread that probes the GCS at ``host:port`` until ``stop``; see the module's text."""

    def __init__(
        self,
        gcs_address: str,
        on_stuck: Callable[[], None] | None = None,
        every_s: float = PROBE_EVERY_S,
        interrupt: Callable[[], None] = _thread.interrupt_main,
    ) -> None:
        host, _, port = gcs_address.rpartition(":")
        self.address, self._target = gcs_address, (host, int(port))
        self.lost: str | None = None  # why the cluster is considered gone, once it is
        self._on_stuck, self._every_s, self._interrupt = on_stuck, every_s, interrupt
        self._stop = threading.Event()  # the watch is off: no interruption from now on
        self._taken = threading.Event()  # the main thread took the loss over (``confirm_lost``)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="sam-study-cluster-watch", daemon=True)

    def start(self) -> ClusterWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stop.set()

    def confirm_lost(self) -> bool:
        """After an error in the main thread: whether it came from a lost cluster. Probes again at once, as the
        thread may not have noticed yet; the watch is off afterwards, and the main thread owns the loss."""
        self.stop()
        if self.lost is None:
            error = None
            for attempt in range(MISSES):
                error = self._probe()
                if error is None:
                    return False
                if attempt < MISSES - 1:
                    time.sleep(self._every_s / 3)
            self.lost = self._why(error)
        self._taken.set()
        return True

    def _watch(self) -> None:
        misses = 0
        while not self._stop.wait(self._every_s):
            error = self._probe()
            misses = 0 if error is None else misses + 1
            if misses >= MISSES:
                with self._lock:
                    if self._stop.is_set():
                        return
                    self.lost = self._why(error)
                    self._interrupt()
                if not self._taken.wait(GRACE_S) and self._on_stuck is not None:
                    self._on_stuck()
                return

    def _why(self, error: str | None) -> str:
        return f"its GCS at {self.address} stopped answering ({error})"

    def _probe(self) -> str | None:
        try:
            with socket.create_connection(self._target, timeout=PROBE_TIMEOUT_S):
                return None
        except OSError as error:
            return error.strerror or type(error).__name__
