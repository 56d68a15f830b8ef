"""MLflow: the only module that imports it.

A study is an experiment named after it. One parent run per study folder holds the study file, the
resolved spec, the selection and (later) the report; it is found again by its ``study_dir`` tag, so a
resumed study continues its parent run. Every trial is a nested child run (``mlflow.parentRunId``),
tagged with its ``trial_key``; a resume deletes the children of trials that never reached the
trials table, so each trial ends with exactly one child run.

Trials log from the process (and node) they run on: ``TrialTracking``. The driver logs the parent:
``StudyTracking``. Per-epoch metrics are buffered and sent in batches (``log_batch``). A tracking
failure inside a trial is reported once and never stops the trial: the trials table keeps the result.
Once a study has started, a failure on the driver's side does not stop it either (``keep_going``);
``sam-study sync-mlflow`` later rebuilds from the trials table whatever MLflow missed (``sync_child``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.tracking import MlflowClient

from pipeline._io import finite_or_none

log = logging.getLogger(__name__)

PARENT_ROLE = "study"
TRIAL_ROLE = "trial"
FLUSH_EVERY_S = 10.0  # per-epoch metrics reach the server at most this late while a trial runs
_PAGE = 1000

# MLflow's HTTP client retries a failing call for about four minutes by default (7 retries, backoff factor 2, a
# 120 s timeout per attempt), so a dead server would stall every trial that long. Here it costs seconds: nothing is
# lost, since the trials table keeps every result and `sam-study sync-mlflow` back-fills MLflow. Set at import, so
# before any client exists and in every process that logs (Ray workers on any node import this module); values
# already in the environment win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
for _name, _value in HTTP_DEFAULTS.items():
    os.environ.setdefault(_name, _value)


class TrackingError(RuntimeError):
    """The tracking location cannot be used; the message says why and what to do."""


# ------------------------------------------------------------------------------------------ secrets

# The environment variables each store's client reads credentials from, so that they need not be in the URI:
# MLflow's HTTP client (basic auth, or a bearer token) in every process that logs; libpq (psycopg2, psycopg 3).
CREDENTIAL_VARS = {
    "http": ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"),
    "https": ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"),
    "postgresql": ("PGPASSWORD",),
}
_URI_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*):[^/?#\s]*@")
_SECRET_PARAM = re.compile(
    r"(?P<head>[?&](?:token|access_token|password|passwd|pwd|secret|api_key|apikey)=)[^&#\s]+", re.IGNORECASE
)


def redact(text: str) -> str:
    """``text`` with the password of every URI in it (``scheme://user:PASSWORD@host``) and every secret query value
    (``?token=...``) replaced by ``***``: what may be printed, logged or written."""
    return _SECRET_PARAM.sub(r"\g<head>***", _URI_PASSWORD.sub(r"\g<head>:***@", text))


def split_credentials(uri: str) -> tuple[str, dict[str, str]]:
    """``uri`` without its password, and the environment variables that carry the credentials instead (none when
    the URI has no password). TrackingError for a store whose client cannot read them from the environment."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri, {}
    host = parts.netloc.rpartition("@")[2]
    user, password = unquote(parts.username or ""), unquote(parts.password)
    scheme = parts.scheme.split("+")[0]  # postgresql+psycopg2 is postgresql
    if scheme in ("http", "https"):
        env = {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}
        return urlunsplit(parts._replace(netloc=host)), env
    if scheme == "postgresql":
        netloc = f"{parts.username}@{host}" if parts.username else host
        return urlunsplit(parts._replace(netloc=netloc)), {"PGPASSWORD": password}
    raise TrackingError(
        f"tracking URI {redact(uri)!r} carries a password, and a {scheme} store cannot take it from the environment: "
        "put an MLflow server in front of it and pass --tracking-uri http://USER:PASSWORD@HOST:PORT"
    )


def use_credentials(uri: str, address: str | None = None) -> str:
    """``uri`` without its password, which moves into this process's environment (``split_credentials``): there
    MLflow's client reads it, here and in the trials of the embedded Ray, which inherit the environment. The URI
    returned is the one that may be printed, recorded, and put into the trials' config, which Ray writes to disk.

    A Ray cluster's nodes (``address``) do not inherit it, and Ray writes a runtime_env (its env_vars too) to its
    runtime-env agent's log, so there the credentials must be set on every node: TrackingError says so."""
    bare, env = split_credentials(uri)
    if env and address is not None:
        raise TrackingError(
            f"the tracking URI carries credentials, but the trials of the Ray cluster at --address {address} run on "
            f"its nodes, which do not inherit them, and Ray would write them to its logs if sam-study sent them; set "
            f"{' and '.join(env)} on every node and here, and pass --tracking-uri {bare}"
        )
    os.environ.update(env)
    return bare


def credential_vars(uri: str) -> list[str]:
    """The names (never the values) of the credential variables set in this environment that ``uri``'s client reads:
    a later command (``sam-study report``) needs them again to reach the same store."""
    scheme = urlsplit(uri).scheme.split("+")[0]
    return [name for name in CREDENTIAL_VARS.get(scheme, ()) if os.environ.get(name)]


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    return value


def default_tracking_uri(out_dir: str | Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https", "databricks")


def check_cluster(uri: str, nodes: int) -> None:
    """Trials log from the node they run on: a cluster of several nodes needs a tracking server."""
    if nodes > 1 and not is_server(uri):
        raise TrackingError(
            f"the Ray cluster has {nodes} nodes and trials log to MLflow from the node they run on, but the "
            f"tracking URI {redact(uri)!r} is a local store on this machine; start an MLflow server (infra/mlflow) and "
            "pass --tracking-uri http://HOST:5000"
        )


def check_tracking_uri(uri: str) -> None:
    """Fail before anything starts when the tracking location cannot be used."""
    scheme = urlparse(uri).scheme
    if scheme not in ("sqlite", "http", "https", "postgresql", "mysql", "databricks"):
        raise TrackingError(
            f"tracking URI {redact(uri)!r} is not supported: use sqlite:///PATH/mlflow.db or http://HOST:PORT "
            "(MLflow 3 no longer accepts a ./mlruns file store)"
        )
    if scheme in ("http", "https"):
        parts = urlsplit(uri)  # urllib takes no user:password@ in a URL
        health = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])).rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health, timeout=10) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            raise TrackingError(
                f"the MLflow server at {redact(uri)} cannot be reached ({redact(str(error))}); start it, or check "
                "--tracking-uri"
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
    """The driver's side: the experiment, the parent run, and the clean-up of orphaned child runs.

    ``reopen``: a parent run found again is set RUNNING (a resumed study); ``sam-study sync-mlflow`` leaves it as is.
    """

    def __init__(
        self, uri: str, study: str, study_dir: Path, artifact_root: Path | None, *, reopen: bool = True
    ) -> None:
        self.uri = uri
        self.lost: str | None = None  # after keep_going: why MLflow was given up on, once a call failed
        self._warn: Callable[[str], None] | None = None
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name(study)
        if experiment is None:
            location = (artifact_root / study).resolve().as_uri() if artifact_root is not None else None
            self.experiment_id = self.client.create_experiment(study, artifact_location=location)
        else:
            self.experiment_id = experiment.experiment_id
        self.study_dir = str(study_dir.resolve())
        self.parent_run_id = self._find_or_create_parent(study, reopen)

    def _find_or_create_parent(self, study: str, reopen: bool) -> str:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.role = '{PARENT_ROLE}' and tags.study_dir = '{self.study_dir}'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if runs:
            run_id = runs[0].info.run_id
            if reopen:
                self.client.update_run(run_id, status="RUNNING")
            return run_id
        tags = {"role": PARENT_ROLE, "study": study, "study_dir": self.study_dir}
        return self.client.create_run(self.experiment_id, tags=tags, run_name=study).info.run_id

    def keep_going(self, warn: Callable[[str], None]) -> None:
        """From now on (the study has started) a failing MLflow call does not stop the study: ``warn`` gets one
        message, and the driver's later calls are skipped (each would wait out the retries again). The trials table
        keeps every trial; ``sam-study sync-mlflow`` back-fills MLflow from it."""
        self._warn = warn

    def _guarded(self, what: str, action: Callable[[], Any]) -> None:
        if self.lost is not None:
            return
        try:
            action()
        except Exception as error:  # MLflow raises its own and transport errors alike
            if self._warn is None:
                raise
            self.lost = f"could not {what}: {_reason(error)}"
            self._warn(
                f"MLflow at {redact(self.uri)} is unreachable ({self.lost}); the study goes on without it and every trial is "
                f"kept in trials.parquet; run `sam-study sync-mlflow {self.study_dir}` once it is back"
            )

    def log_study(self, study_file: Path, resolved: dict[str, Any]) -> None:
        # The file as written, less any password in it (output.tracking_uri may hold one).
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / study_file.name
            copy.write_text(redact(study_file.read_text()))
            self.client.log_artifact(self.parent_run_id, str(copy), "study")
        self.log_spec(resolved)

    def log_spec(self, resolved: dict[str, Any]) -> None:
        """The resolved spec as ``study/resolved_spec.json`` and as params (those not logged yet); passwords as ***."""
        resolved = _redacted(resolved)
        self.client.log_dict(self.parent_run_id, resolved, "study/resolved_spec.json")
        params = flatten_params({k: v for k, v in resolved.items() if k != "methods"})
        for method in resolved["methods"]:
            params.update(flatten_params({f"method.{method['name']}": method}))
        existing = self.client.get_run(self.parent_run_id).data.params
        new = [Param(k, v[:6000]) for k, v in sorted(params.items()) if k not in existing]
        for start in range(0, len(new), 100):
            self.client.log_batch(self.parent_run_id, params=new[start : start + 100])

    def log_dict(self, values: dict[str, Any], artifact_file: str) -> None:
        self._guarded(
            f"log {artifact_file}",
            lambda: self.client.log_dict(self.parent_run_id, finite_or_none(values), artifact_file),
        )

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self._guarded(
            f"log {path.name}", lambda: self.client.log_artifact(self.parent_run_id, str(path), artifact_path)
        )

    def log_report(self, files: list[Path], figures_dir: Path) -> None:
        self._guarded("log the report", lambda: log_report(self.client, self.parent_run_id, files, figures_dir))

    def set_tags(self, tags: dict[str, str]) -> None:
        self._guarded(
            "tag the parent run",
            lambda: self.client.log_batch(self.parent_run_id, tags=[RunTag(k, v) for k, v in tags.items()]),
        )

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

        def close() -> None:
            run = self.client.get_run(run_id)
            if run.info.status == "RUNNING":
                self.client.set_tag(run_id, "status", status)
                self.client.set_terminated(run_id, terminal_state(status))

        self._guarded(f"close the child run {run_id}", close)

    def finish(self, status: str = "FINISHED") -> None:
        self._guarded("end the parent run", lambda: self.client.set_terminated(self.parent_run_id, status))

    # ------------------------------------------------------------------ sam-study sync-mlflow

    def children_by_key(self) -> dict[str, list[Any]]:
        """The active child runs, by their ``trial_key`` tag (a key may have several after an outage)."""
        found: dict[str, list[Any]] = {}
        for run in self.child_runs():
            found.setdefault(run.data.tags.get("trial_key", ""), []).append(run)
        return found

    def sync_child(self, record: ChildRecord, runs: list[Any]) -> tuple[str, int]:
        """Make ``record``'s trial have exactly one complete child run, given the active ``runs`` with its key.
        Returns what was done (``created``, ``completed`` or ``there``) and how many extra runs were deleted.

        The run kept is the one the trials table names, else a complete one, else the newest; the others are
        deleted. A kept run that is incomplete (left RUNNING by the outage, or ended without its final values) is
        completed in place: only what it lacks is logged, so no metric step appears twice."""
        keep = _pick(runs, record)
        removed = 0
        for run in runs:
            if run is not keep:
                self.client.delete_run(run.info.run_id)
                removed += 1
        if keep is None:
            tags = {"mlflow.parentRunId": self.parent_run_id, "role": TRIAL_ROLE, **record.tags}
            run_id = self.client.create_run(
                self.experiment_id, start_time=record.start_ms, tags=tags, run_name=record.key
            ).info.run_id
            self._fill(run_id, record, None)
            return "created", removed
        if _complete(keep, record):
            return "there", removed
        self._fill(keep.info.run_id, record, keep)
        return "completed", removed

    def _fill(self, run_id: str, record: ChildRecord, existing: Any | None) -> None:
        have_params = existing.data.params if existing is not None else {}
        have_metrics = existing.data.metrics if existing is not None else {}
        flat = flatten_params(record.params)
        params = [Param(k, v[:6000]) for k, v in sorted(flat.items()) if k not in have_params]
        now = int(time.time() * 1000)
        stamp = record.end_ms or now
        metrics: list[Metric] = []
        for key in sorted({k for _, values in record.epochs for k in values}):
            steps = {m.step for m in self.client.get_metric_history(run_id, key)} if key in have_metrics else set()
            metrics += [
                Metric(key, float(values[key]), stamp, epoch)
                for epoch, values in record.epochs
                if values.get(key) is not None and epoch not in steps
            ]
        metrics += [
            Metric(k, float(v), stamp, record.final_step)
            for k, v in record.final.items()
            if v is not None and k not in have_metrics
        ]
        tags = [RunTag(k, v) for k, v in {**record.tags, SYNCED_TAG: "true"}.items()]
        for start in range(0, max(len(params), len(metrics), 1), 100):
            self.client.log_batch(
                run_id,
                metrics=metrics[start : start + 100],
                params=params[start : start + 100],
                tags=tags if start == 0 else [],
            )
        if record.result is not None:
            log_result(self.client, run_id, record.result)
        self.client.set_terminated(run_id, terminal_state(record.status), end_time=record.end_ms)

    def sync_parent_files(self, files: list[tuple[Path, str | None]]) -> list[str]:
        """Upload each ``(file, artifact folder)`` the parent run lacks or holds at another size; returns the
        artifact paths uploaded (none when the parent already holds them all)."""
        listings: dict[str | None, dict[str, int | None]] = {}
        uploaded = []
        for path, folder in files:
            if folder not in listings:
                listings[folder] = {a.path: a.file_size for a in self.client.list_artifacts(self.parent_run_id, folder)}
            name = f"{folder}/{path.name}" if folder else path.name
            if listings[folder].get(name) != path.stat().st_size:
                self.client.log_artifact(self.parent_run_id, str(path), folder)
                uploaded.append(name)
        return uploaded

    def has_spec(self) -> bool:
        return any(
            a.path == "study/resolved_spec.json" for a in self.client.list_artifacts(self.parent_run_id, "study")
        )

    def end_parent(self) -> bool:
        """FINISHED, unless it is already; True when it was changed."""
        if self.client.get_run(self.parent_run_id).info.status == "FINISHED":
            return False
        self.client.set_terminated(self.parent_run_id, "FINISHED")
        return True


SYNCED_TAG = "synced_from_trials_table"  # "true" on a child run that sync-mlflow created or completed


@dataclass(frozen=True)
class ChildRecord:
    """A trial's child run as the trial would have logged it, rebuilt from its trials-table row."""

    key: str
    tags: dict[str, str]  # the trial's tags, ``status`` among them
    params: dict[str, Any]  # nested, flattened when logged
    epochs: list[tuple[int, dict[str, float | None]]]  # (epoch, its metrics); empty when the row has no history
    final: dict[str, float | None]  # the final metrics, logged at step ``final_step``
    final_step: int
    result: dict[str, Any] | None  # result.json
    status: str  # ok | diverged | failed | stopped
    run_id: str | None = None  # the run the trials table names
    start_ms: int | None = None
    end_ms: int | None = None


def terminal_state(status: str) -> str:
    """The MLflow run status of a trial that ended with ``status``."""
    return {"failed": "FAILED", "stopped": "KILLED"}.get(status, "FINISHED")


def _complete(run: Any, record: ChildRecord) -> bool:
    return (
        run.info.status == terminal_state(record.status)
        and run.data.tags.get("status") == record.status
        and all(k in run.data.metrics for k, v in record.final.items() if v is not None)
    )


def _pick(runs: list[Any], record: ChildRecord) -> Any | None:
    for run in runs:
        if run.info.run_id == record.run_id:
            return run
    complete = [r for r in runs if _complete(r, record)]
    return max(complete or runs, key=lambda r: r.info.start_time or 0, default=None)


def _reason(error: BaseException) -> str:
    """The socket's own words when there are some ("[Errno 111] Connection refused"), not MLflow's wrapping of them
    (the URL twice, the retry pool); else the error's first line."""
    text = str(error).strip()
    errno = re.search(r"\[Errno -?\d+\][^'\")]+", text)
    if errno:
        return errno.group(0).strip()
    lines = text.splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]


def log_result(client: MlflowClient, run_id: str, result: dict[str, Any]) -> None:
    """A trial's TrialResult as ``result.json``, and LETS's radius over training as ``rho_trajectory.json``."""
    client.log_dict(run_id, finite_or_none(result), "result.json")
    if result.get("rho_trajectory"):
        client.log_dict(run_id, {"rho": result["rho_trajectory"]}, "rho_trajectory.json")


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
        raise TrackingError(
            f"the study's MLflow parent run {run_id} cannot be read at {redact(uri)}: {redact(str(error))}"
        ) from None
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
                log_result(self.client, self.run_id, result)
            self.client.set_tag(self.run_id, "status", status)
            self.client.set_terminated(self.run_id, terminal_state(status))

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
        raise TrackingError(
            f"the accepted nightly baseline of {study!r} cannot be read from {redact(uri)}: {redact(str(error))}"
        ) from None
    return AcceptedBaseline(run.info.run_id, run.data.tags.get("study_dir", ""), Path(path))


def record_nightly(uri: str, run_id: str, files: list[Path], tags: dict[str, str]) -> None:
    """The regression files under the parent run's ``regression/`` artifacts, and the verdict tags."""
    client = MlflowClient(tracking_uri=uri)
    for path in files:
        client.log_artifact(run_id, str(path), "regression")
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
