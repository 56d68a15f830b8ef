"""Where a study tracks: the default store, what kind of store a URI names, whether it can be used here, and the
link that opens a study in the MLflow UI. No MLflow import: these checks run before anything starts."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlsplit, urlunsplit

from pipeline.results.folder import MLFLOW_STORE
from pipeline.study.mlflow.errors import TrackingError
from pipeline.study.mlflow.secrets import redact, use_credentials


def default_tracking_uri(out_dir: str | Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / MLFLOW_STORE}"


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


def resolve_tracking(uri: str, address: str | None = None) -> str:
    """The tracking URI a command uses: its password moved into this process's environment (``use_credentials``;
    ``address``, a Ray cluster's, refuses one), then checked usable from here (``check_tracking_uri``). The URI
    returned carries no password, so it may be printed and recorded; raises TrackingError."""
    bare = use_credentials(uri, address)
    check_tracking_uri(bare)
    return bare


UI_PORT = 5000  # `mlflow ui`'s default port
# MLflow 3's UI opens an experiment on its GenAI pages unless told otherwise: this query (after the hash path)
# switches it to the classic model-training view, where a study's parent run and its trials' child runs are.
_TRAINING_VIEW = "workflowType=machine_learning"


def ui_link(uri: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI's page of a study's parent run: on the tracking server itself, or on `mlflow ui` at its
    default port for a store on this machine."""
    base = uri.rstrip("/") if is_server(uri) else f"http://127.0.0.1:{UI_PORT}"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{_TRAINING_VIEW}"


def ui_hint(uri: str, experiment_id: str, run_id: str) -> str:
    """What to do to see a study in the MLflow UI: the link, and for a local store the command that serves it."""
    link = ui_link(uri, experiment_id, run_id)
    if is_server(uri):
        return f"MLflow UI: {link}"
    return f"MLflow UI: run `mlflow ui --backend-store-uri {uri} --port {UI_PORT}`, then open {link}"
