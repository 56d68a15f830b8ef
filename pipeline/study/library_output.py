"""The libraries' own output on the driver, kept in the study folder instead of on the user's screen.

Ray, MLflow (its database migrations), Optuna and Ray's C++ core all write to the process's stdout and stderr,
some of them from threads and child processes that Python's logging never sees: about 150 lines before a study's
first trial. Redirecting file descriptors 1 and 2 catches all of it, the processes Ray starts included (they inherit
the descriptors); sam-study's own lines go to streams on the terminal saved before.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def library_output_to(path: Path) -> Iterator[None]:
    """While inside, descriptors 1 and 2 write to ``path`` (appended) and ``sys.stdout`` is a stream on the terminal.

    ``sys.stdout`` itself is replaced (not handed out as another stream) because Ray Tune pickles what its callbacks
    and searcher reach, and cloudpickle pickles ``sys.stdout`` by name but refuses any other open file.
    ``sys.stderr`` keeps writing to descriptor 2, into the log, as the libraries' logging handlers do.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    stdout = sys.stdout
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8", errors="replace")
    with path.open("a", encoding="utf-8") as log:
        log.write(f"\n==== sam-study run, pid {os.getpid()}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = terminal
        try:
            yield
        finally:
            terminal.flush()
            sys.stdout = stdout
            sys.stderr.flush()
            for fd, original in zip((1, 2), saved, strict=True):
                os.dup2(original, fd)
                os.close(original)
            terminal.close()
