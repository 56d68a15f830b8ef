"""``ray_session``: Ray for the length of a study or suite, watched, with its loss told apart from other errors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pipeline.study._ray_compat import StopStudy
from pipeline.study.cluster_watch import ClusterWatch
from pipeline.study.errors import RayLost
from pipeline.study.ray_cluster import Cluster, abandon_ray, start_ray, stop_ray


@contextlib.contextmanager
def ray_session(
    address: str | None,
    stack: contextlib.ExitStack,
    on_ray_lost: Callable[[RayLost], None] | None,
    lost_error: Callable[[Cluster, ClusterWatch], RayLost],
    code: Sequence[Path] = (),
) -> Iterator[Cluster]:
    """Ray, started (or joined) for the block and stopped after it, watched: an error inside the block that came
    from losing Ray is raised as ``lost_error``'s ``RayLost``. If Ray's core holds the main thread so that it cannot
    be, ``on_ray_lost`` gets the error from the watch's thread (after ``stack`` is closed: the terminal back). The
    ``code`` folders' modules reach every worker (``start_ray``)."""
    cluster = start_ray(address, code)
    watch = None
    if cluster.gcs_address:

        def stuck() -> None:
            if on_ray_lost is not None:
                error = lost_error(cluster, watch)
                stack.close()
                on_ray_lost(error)

        watch = ClusterWatch(cluster.gcs_address, stuck).start()
    lost = False
    try:
        yield cluster
    except StopStudy as stop:
        raise stop.error from stop.__cause__
    except BaseException as error:
        # A Ctrl-C is the user's, unless the watch itself interrupted: a terminal's Ctrl-C also reaches Ray's
        # processes, whose GCS may then be gone by the time it is probed.
        interrupted = isinstance(error, KeyboardInterrupt) and watch is not None and watch.lost is None
        lost = watch is not None and not interrupted and watch.confirm_lost()
        if lost:
            raise lost_error(cluster, watch) from error
        raise
    finally:
        if watch is not None:
            watch.stop()  # before Ray stops: an embedded Ray's GCS going down is no loss then
        if lost:
            abandon_ray()
        else:
            stop_ray()
