"""Credentials in tracking URIs, without MLflow: what may be printed, and where a password goes instead.

A password in a tracking URI moves into the environment variables its client reads (``use_credentials``); from then
on the URI may be printed, recorded and sent to Ray. Everything printed or logged passes through ``redact``.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pipeline.study.mlflow.errors import TrackingError

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


def redacted(value: Any) -> Any:
    """``value`` with ``redact`` applied to every string in it, at any depth."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted(v) for v in value]
    return value
