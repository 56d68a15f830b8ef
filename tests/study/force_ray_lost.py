"""`python -m tests.study.force_ray_lost MODE MARKER SAM-STUDY-ARGS...`: the real `sam-study` command, on its real
embedded Ray, whose GCS it kills itself once the study has recorded ``ROWS`` trials, with the main thread held in
a chosen state at that moment. It forces, deterministically, each of the two ways a lost Ray reaches the driver
(``pipeline.study.cluster_watch``):

- ``main``: the main thread waits in Python, so it takes the watch's interruption and reports the loss itself;
- ``stuck``: the main thread blocks in C, where an interruption cannot reach it (as when Ray's core holds it), so
  the watch's thread must report the loss and end the process.

MARKER, a file, gets ``killed <unix time>`` when the GCS is killed and ``main`` when the main thread took the loss.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path

import psutil

from pipeline.cli import main
from pipeline.results.table import TrialsTable
from pipeline.study.cluster_watch import ClusterWatch

ROWS = 2


def kill_gcs() -> None:
    """SIGKILL the GCS of the embedded Ray this process started (a child process of it)."""
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any("gcs_server" in part for part in process.cmdline()):
                process.kill()
                return
    raise AssertionError("no GCS below this process")


def hold(mode: str) -> None:
    if mode == "main":
        while True:  # Python code: the watch's interruption lands here
            time.sleep(0.05)
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()  # never returns: a lock's wait is not interrupted by _thread.interrupt_main


def install(mode: str, marker: Path) -> None:
    append, confirm_lost = TrialsTable.append, ClusterWatch.confirm_lost
    recorded = 0

    def append_then_lose_ray(self: TrialsTable, *args: object, **kwargs: object) -> None:
        nonlocal recorded
        append(self, *args, **kwargs)
        recorded += 1
        if recorded == ROWS:
            kill_gcs()
            with marker.open("a") as file:
                file.write(f"killed {time.time()}\n")
            hold(mode)

    def confirm_and_mark(self: ClusterWatch) -> bool:
        lost = confirm_lost(self)
        if lost:
            with marker.open("a") as file:
                file.write("main\n")
        return lost

    TrialsTable.append = append_then_lose_ray  # type: ignore[method-assign]
    ClusterWatch.confirm_lost = confirm_and_mark  # type: ignore[method-assign]


if __name__ == "__main__":
    mode, marker, *argv = sys.argv[1:]
    assert mode in ("main", "stuck"), mode
    install(mode, Path(marker))
    sys.exit(main(argv))  # a lost Ray never returns here: the command ends the process itself
