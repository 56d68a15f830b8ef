"""How a command ends when the Ray instance under it is lost: report, then end the process at once, with RAY_LOST.

Whichever thread takes the loss (the main thread, or the cluster watch's while Ray's core holds the main thread),
the process must not end the normal way. An interpreter exit runs Ray's exit hooks and destroys its core worker,
and both wait on the dead GCS: the process then hangs for 60 seconds until Ray's client prints "Failed to connect
to GCS within 60 seconds" and ends it with exit code 1, or crashes on the way (a segmentation fault was seen). A
scheduler reading the exit code would see a generic failure. Nothing is lost by skipping the exit hooks: every
finished trial was written to the trials table atomically as it ended.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from pipeline.cli.exit_codes import ExitCode


def end_ray_lost(message: str) -> NoReturn:
    """Print ``message`` to standard error and end the process now with ``ExitCode.RAY_LOST``."""
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(ExitCode.RAY_LOST)
