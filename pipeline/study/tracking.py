"""MLflow: the only module that imports it.

A study is an experiment named after it. One parent run per study folder holds the study file, the
resolved spec, the selection and (later) the report; it is found again by its ``study_dir`` tag, so a
resumed study continues its parent run. Every trial is a nested child run (``mlflow.parentRunId``),
tagged with its ``trial_key``; a resume deletes the children of trials that never reached the
trials table, so each trial ends with exactly one child run.

Trials log from the process (and node) they run on: ``TrialTracking``. The driver logs the parent:
``StudyTracking``. Per-epoch metrics are buffered and sent in batches (``log_batch``). A tracking
failure inside a trial is reported once and never stops the trial: the trials table keeps the result.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.tracking import MlflowClient

from pipeline.json_safe import finite_or_none

log = logging.getLogger(__name__)

PARENT_ROLE = "study"
TRIAL_ROLE = "trial"
FLUSH_EVERY_S = 10.0  # per-epoch metrics reach the server at most this late while a trial runs
_PAGE = 1000


class TrackingError(RuntimeError):
    """The tracking location cannot be used; the message says why and what to do."""


def default_tracking_uri(out_dir: str | Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https", "databricks")


def check_cluster(uri: str, nodes: int) -> None:
    """Trials log from the node they run on: a cluster of several nodes needs a tracking server."""
    if nodes > 1 and not is_server(uri):
        raise TrackingError(
            f"the Ray cluster has {nodes} nodes and trials log to MLflow from the node they run on, but the "
            f"tracking URI {uri!r} is a local store on this machine; start an MLflow server (infra/mlflow) and "
            "pass --tracking-uri http://HOST:5000"
        )


def check_tracking_uri(uri: str) -> None:
    """Fail before anything starts when the tracking location cannot be used."""
    scheme = urlparse(uri).scheme
    if scheme not in ("sqlite", "http", "https", "postgresql", "mysql", "databricks"):
        raise TrackingError(
            f"tracking URI {uri!r} is not supported: use sqlite:///PATH/mlflow.db or http://HOST:PORT "
            "(MLflow 3 no longer accepts a ./mlruns file store)"
        )
    if scheme in ("http", "https"):
        health = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health, timeout=10) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            raise TrackingError(
                f"the MLflow server at {uri} cannot be reached ({error}); start it, or check --tracking-uri"
            ) from None


def _flat_params(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat_params(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


def flatten_params(values: dict[str, Any]) -> dict[str, str]:
    """Nested settings as ``a.b.c -> str`` MLflow params."""
    out: dict[str, str] = {}
    _flat_params("", values, out)
    return out


class StudyTracking:
    """The driver's side: the experiment, the parent run, and the clean-up of orphaned child runs."""

    def __init__(self, uri: str, study: str, study_dir: Path, artifact_root: Path | None) -> None:
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name(study)
        if experiment is None:
            location = (artifact_root / study).resolve().as_uri() if artifact_root is not None else None
            self.experiment_id = self.client.create_experiment(study, artifact_location=location)
        else:
            self.experiment_id = experiment.experiment_id
        self.study_dir = str(study_dir.resolve())
        self.parent_run_id = self._find_or_create_parent(study)

    def _find_or_create_parent(self, study: str) -> str:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.role = '{PARENT_ROLE}' and tags.study_dir = '{self.study_dir}'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if runs:
            run_id = runs[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        tags = {"role": PARENT_ROLE, "study": study, "study_dir": self.study_dir}
        return self.client.create_run(self.experiment_id, tags=tags, run_name=study).info.run_id

    def log_study(self, study_file: Path, resolved: dict[str, Any]) -> None:
        self.client.log_artifact(self.parent_run_id, str(study_file), "study")
        self.client.log_dict(self.parent_run_id, resolved, "study/resolved_spec.json")
        params = flatten_params({k: v for k, v in resolved.items() if k != "methods"})
        for method in resolved["methods"]:
            params.update(flatten_params({f"method.{method['name']}": method}))
        existing = self.client.get_run(self.parent_run_id).data.params
        new = [Param(k, v[:6000]) for k, v in sorted(params.items()) if k not in existing]
        for start in range(0, len(new), 100):
            self.client.log_batch(self.parent_run_id, params=new[start : start + 100])

    def log_dict(self, values: dict[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.parent_run_id, finite_or_none(values), artifact_file)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.parent_run_id, str(path), artifact_path)

    def log_report(self, files: list[Path], figures_dir: Path) -> None:
        log_report(self.client, self.parent_run_id, files, figures_dir)

    def set_tags(self, tags: dict[str, str]) -> None:
        self.client.log_batch(self.parent_run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def child_runs(self) -> list[Any]:
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=_PAGE,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def remove_unrecorded_children(self, recorded_keys: set[str]) -> int:
        """Delete the child runs of trials that never reached the trials table (an interrupted study):
        those trials run again, and each must end with one child run."""
        removed = 0
        for run in self.child_runs():
            if run.data.tags.get("trial_key") not in recorded_keys:
                self.client.delete_run(run.info.run_id)
                removed += 1
        return removed

    def close_child(self, run_id: str, status: str) -> None:
        """End a child run whose trial ended without closing it (stopped by the scheduler, or failed)."""
        run = self.client.get_run(run_id)
        if run.info.status == "RUNNING":
            self.client.set_tag(run_id, "status", status)
            self.client.set_terminated(run_id, "KILLED" if status == "stopped" else "FAILED")

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_run_id, status)


def log_report(client: MlflowClient, run_id: str, files: list[Path], figures_dir: Path) -> None:
    """The report under the run's ``report/`` artifacts, its figures under ``report/figures/``; stale figures of an
    earlier report are not removed (MLflow artifacts are append-only), they are overwritten by name."""
    for path in files:
        client.log_artifact(run_id, str(path), "report")
    if figures_dir.is_dir():
        client.log_artifacts(run_id, str(figures_dir), "report/figures")


def attach_report(uri: str, run_id: str, files: list[Path], figures_dir: Path) -> None:
    """Attach a report written after the study (``sam-study report``) to the study's existing parent run."""
    client = MlflowClient(tracking_uri=uri)
    try:
        client.get_run(run_id)
    except Exception as error:  # noqa: BLE001 - MLflow raises its own and transport errors alike
        raise TrackingError(f"the study's MLflow parent run {run_id} cannot be read at {uri}: {error}") from None
    log_report(client, run_id, files, figures_dir)


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
        self.client = MlflowClient(tracking_uri=uri)
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
            params=[Param(k, v[:6000]) for k, v in sorted(flat.items())],
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
                    error,
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
            batch, self._pending = self._pending[:1000], self._pending[1000:]
            self.client.log_batch(self.run_id, metrics=batch)
        self._last_flush = time.monotonic()

    def finish(
        self,
        status: str,
        metrics: dict[str, float | None],
        result: dict[str, Any] | None,
        step: int = 0,
    ) -> None:
        if not self.ok:
            return

        def close() -> None:
            assert self.run_id is not None
            now = int(time.time() * 1000)
            self._pending += [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
            self._flush()
            if result is not None:
                self.client.log_dict(self.run_id, finite_or_none(result), "result.json")
                if result.get("rho_trajectory"):
                    self.client.log_dict(
                        self.run_id,
                        {"rho": result["rho_trajectory"]},
                        "rho_trajectory.json",
                    )
            self.client.set_tag(self.run_id, "status", status)
            self.client.set_terminated(
                self.run_id,
                {"failed": "FAILED", "stopped": "KILLED"}.get(status, "FINISHED"),
            )

        self._guard("finish the child run", close)


# ------------------------------------------------------------------------------------------ nightly

ACCEPTED_TAG = "nightly_accepted"  # "true" on the parent run of an accepted nightly baseline
VERDICT_TAG = "nightly_verdict"


@dataclass(frozen=True)
class AcceptedBaseline:
    run_id: str
    study_dir: str
    table: Path  # its trials table, downloaded from the run's artifacts


def find_accepted_baseline(uri: str, study: str, download_to: Path) -> AcceptedBaseline | None:
    """The newest parent run of ``study`` tagged as an accepted nightly baseline, with its trials table."""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None  # no store yet, so no baseline; and asking MLflow would create an empty one
    client = MlflowClient(tracking_uri=uri)
    try:
        experiment = client.get_experiment_by_name(study)
        if experiment is None:
            return None
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.role = '{PARENT_ROLE}' and tags.{ACCEPTED_TAG} = 'true'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if not runs:
            return None
        run = runs[0]
        download_to.mkdir(parents=True, exist_ok=True)
        path = client.download_artifacts(run.info.run_id, "trials.parquet", str(download_to))
    except Exception as error:  # noqa: BLE001 - MLflow raises its own and transport errors alike
        raise TrackingError(f"the accepted nightly baseline of {study!r} cannot be read from {uri}: {error}") from None
    return AcceptedBaseline(run.info.run_id, run.data.tags.get("study_dir", ""), Path(path))


def record_nightly(uri: str, run_id: str, files: list[Path], tags: dict[str, str]) -> None:
    """The regression files under the parent run's ``regression/`` artifacts, and the verdict tags."""
    client = MlflowClient(tracking_uri=uri)
    for path in files:
        client.log_artifact(run_id, str(path), "regression")
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
