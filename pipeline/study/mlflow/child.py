"""A trial's child run, written from the process (and node) the trial runs in.

Per-epoch metrics are buffered and sent in batches (``log_batch``). A tracking failure inside a trial is reported
once and never stops the trial: the trials table keeps the result.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from pipeline._io import finite_or_none
from pipeline.study.mlflow._client import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    TRIAL_ROLE,
    client,
    flatten_params,
    terminal_state,
)
from pipeline.study.mlflow.secrets import redact

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 10.0  # per-epoch metrics reach the server at most this late while a trial runs
# The step of a final value: one value, not a point on the epoch axis, so MLflow's UI draws it as a bar.
FINAL_STEP = 0


def log_result(client: MlflowClient, run_id: str, result: dict[str, Any]) -> None:
    """A trial's TrialResult as ``result.json``, and LETS's radius over training as ``rho_trajectory.json``."""
    client.log_dict(run_id, finite_or_none(result), "result.json")
    if result.get("rho_trajectory"):
        client.log_dict(run_id, {"rho": result["rho_trajectory"]}, "rho_trajectory.json")


def log_file_as(client: MlflowClient, run_id: str, path: Path, name: str) -> None:
    """``path`` as run ``run_id``'s artifact ``name`` (MLflow names an artifact after its file)."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / name
        shutil.copyfile(path, copy)
        client.log_artifact(run_id, str(copy))


OUTCOMES_ARTIFACT = "outcomes.parquet"  # an evaluation trial's per-example outcomes, in its child run


class TrialTracking:
    """A trial's child run, written from the process the trial runs in."""

    def __init__(
        self,
        uri: str,
        experiment_id: str,
        parent_run_id: str,
        run_name: str,
        tags: dict[str, str],
        params: dict[str, Any],
    ) -> None:
        self.run_id: str | None = None
        self._pending: list[Metric] = []
        self._last_flush = time.monotonic()
        self._guard(
            "start the child run", lambda: self._start(uri, experiment_id, parent_run_id, run_name, tags, params)
        )

    @property
    def ok(self) -> bool:
        return self.run_id is not None

    def _start(
        self, uri: str, experiment_id: str, parent: str, name: str, tags: dict[str, str], params: dict[str, Any]
    ) -> None:
        self.client = client(uri)
        # A retried trial (Ray restarts it after a crash) continues its own child run.
        earlier = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.trial_key = '{tags['trial_key']}'",
            max_results=1,
        )
        if earlier:
            run_id = earlier[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            self.run_id = run_id
            return
        run = self.client.create_run(
            experiment_id,
            tags={"mlflow.parentRunId": parent, "role": TRIAL_ROLE, **tags},
            run_name=name,
        )
        flat = flatten_params(params)
        self.client.log_batch(
            run.info.run_id,
            params=[Param(k, v[:MAX_PARAM_VAL_LENGTH]) for k, v in sorted(flat.items())],
        )
        self.run_id = run.info.run_id

    def _guard(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as error:  # noqa: BLE001 - tracking must never stop a trial
            if self.run_id is not None or what == "start the child run":
                log.warning(
                    "MLflow: could not %s (%s); the trial goes on, the trials table keeps its result",
                    what,
                    redact(str(error)),
                )
            self.run_id = None

    def log_epoch(self, epoch: int, metrics: dict[str, float | None]) -> None:
        if not self.ok:
            return
        now = int(time.time() * 1000)
        self._pending += [Metric(k, float(v), now, epoch) for k, v in metrics.items() if v is not None]
        if time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self._guard("log epoch metrics", self._flush)

    def _flush(self) -> None:
        assert self.run_id is not None
        while self._pending:
            n = MAX_METRICS_PER_BATCH
            batch, self._pending = self._pending[:n], self._pending[n:]
            self.client.log_batch(self.run_id, metrics=batch)
        self._last_flush = time.monotonic()

    def log_file(self, path: Path, name: str) -> None:
        """``path`` as the run's artifact ``name`` (at the artifacts' root)."""
        if not self.ok:
            return
        run_id = self.run_id
        assert run_id is not None
        self._guard(f"log {name}", lambda: log_file_as(self.client, run_id, path, name))

    def finish(self, status: str, metrics: dict[str, float | None], result: dict[str, Any] | None) -> None:
        """End the run with its final values ``metrics``, ``result.json`` and its ``status``."""
        if not self.ok:
            return

        def close() -> None:
            assert self.run_id is not None
            now = int(time.time() * 1000)
            self._pending += [Metric(k, float(v), now, FINAL_STEP) for k, v in metrics.items() if v is not None]
            self._flush()
            if result is not None:
                log_result(self.client, self.run_id, result)
            self.client.set_tag(self.run_id, "status", status)
            self.client.set_terminated(self.run_id, terminal_state(status))

        self._guard("finish the child run", close)
