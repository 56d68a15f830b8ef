"""The nightly's baselines in MLflow: the last accepted run of a nightly study, and a night's verdict on its run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import RunTag

from pipeline.results.folder import TABLE_FILE
from pipeline.study.mlflow._client import PARENT_ROLE, client
from pipeline.study.mlflow.errors import TrackingError
from pipeline.study.mlflow.secrets import redact

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
    client_ = client(uri)
    try:
        experiment = client_.get_experiment_by_name(study)
        if experiment is None:
            return None
        runs = client_.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.role = '{PARENT_ROLE}' and tags.{ACCEPTED_TAG} = 'true'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if not runs:
            return None
        run = runs[0]
        download_to.mkdir(parents=True, exist_ok=True)
        path = client_.download_artifacts(run.info.run_id, TABLE_FILE, str(download_to))
    except Exception as error:  # noqa: BLE001 - MLflow raises its own and transport errors alike
        raise TrackingError(
            f"the accepted nightly baseline of {study!r} cannot be read from {redact(uri)}: {redact(str(error))}"
        ) from None
    return AcceptedBaseline(run.info.run_id, run.data.tags.get("study_dir", ""), Path(path))


def record_nightly(uri: str, run_id: str, files: list[Path], tags: dict[str, str]) -> None:
    """The regression files under the parent run's ``regression/`` artifacts, and the verdict tags."""
    client_ = client(uri)
    for path in files:
        client_.log_artifact(run_id, str(path), "regression")
    client_.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
