"""What every MLflow client of the project shares: bounded HTTP retries, params as flat strings, run states."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from mlflow.tracking import MlflowClient
from mlflow.utils import validation

PARENT_ROLE = "study"  # the tag ``role`` of a study's parent run
TRIAL_ROLE = "trial"  # ... and of a trial's child run
PAGE = 1000  # runs per search_runs page

# MLflow's own limits on one log_batch request, under its own names (mlflow/utils/validation.py, verified on MLflow
# 3.17): a request over them is refused, so a param is cut to MAX_PARAM_VAL_LENGTH characters and a batch split at
# the counts. Read from MLflow rather than restated, so a version that changes them is followed.
MAX_PARAMS_TAGS_PER_BATCH: int = validation.MAX_PARAMS_TAGS_PER_BATCH  # 100
MAX_METRICS_PER_BATCH: int = validation.MAX_METRICS_PER_BATCH  # 1000
MAX_PARAM_VAL_LENGTH: int = validation.MAX_PARAM_VAL_LENGTH  # 6000

# MLflow's HTTP client retries a failing call for about four minutes by default (7 retries, backoff factor 2, a
# 120 s timeout per attempt), so a dead server would stall every trial that long. Here it costs seconds: nothing is
# lost, since the trials table keeps every result and `sam-study sync-mlflow` back-fills MLflow. Set by ``client``,
# before each client exists, in every process that logs.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def client(uri: str) -> MlflowClient:
    """A client for ``uri`` whose HTTP calls give up after seconds, not minutes. The bounds go into the environment
    (MLflow reads them there, per call), where values a user set win; every process that logs calls this first."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    return MlflowClient(tracking_uri=uri)


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


def terminal_state(status: str) -> str:
    """The MLflow run status of a trial that ended with ``status``."""
    return {"failed": "FAILED", "stopped": "KILLED"}.get(status, "FINISHED")


def reason(error: BaseException) -> str:
    """The socket's own words when there are some ("[Errno 111] Connection refused"), not MLflow's wrapping of them
    (the URL twice, the retry pool); else the error's first line."""
    text = str(error).strip()
    errno = re.search(r"\[Errno -?\d+\][^'\")]+", text)
    if errno:
        return errno.group(0).strip()
    lines = text.splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]
