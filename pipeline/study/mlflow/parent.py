"""The study's parent run, from the driver: the experiment, the parent run's files and the clean-up of child runs.

A study is an experiment named after it, tagged as a model-training experiment. One parent run per study folder
holds the study file, the resolved spec, the selection and the report; it is found again by its ``study_dir`` tag,
so a resumed study continues its parent run. A suite is one experiment named after the suite: the suite's run
(``role = suite``) is the parent of each task's study run, which is the parent of that task's trial runs. Once a
study has started, a failing MLflow call does not stop it (``keep_going``); ``sam-study sync-mlflow`` rebuilds from
the trials table whatever MLflow missed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Param, ViewType
from mlflow.tracking import MlflowClient

from pipeline.study.mlflow._client import (
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    PAGE,
    PARENT_ROLE,
    client,
    flatten_params,
    reason,
    terminal_state,
)
from pipeline.study.mlflow.errors import TrackingError
from pipeline.study.mlflow.secrets import redact, redacted

# MLflow's own tag for what an experiment holds: a study trains models (its UI otherwise assumes GenAI traces).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"


SUITE_ROLE = "suite"  # the tag ``role`` of a suite's run, the parent of its tasks' study runs


@dataclass(frozen=True)
class SuiteRun:
    """The suite a study belongs to: the experiment of the whole suite, and the suite's run to nest under."""

    experiment: str
    run_id: str


class StudyTracking:
    """The driver's side: the experiment, the parent run, and the clean-up of orphaned child runs.

    ``reopen``: a parent run found again is set RUNNING (a resumed study); ``sam-study sync-mlflow`` leaves it as is.
    """

    def __init__(
        self,
        uri: str,
        study: str,
        study_dir: Path,
        artifact_root: Path | None,
        *,
        reopen: bool = True,
        suite: SuiteRun | None = None,
        role: str = PARENT_ROLE,
    ) -> None:
        self.uri = uri
        self.lost: str | None = None  # after keep_going: why MLflow was given up on, once a call failed
        self._warn: Callable[[str], None] | None = None
        self.client = client(uri)
        name = suite.experiment if suite is not None else study
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            location = (artifact_root / name).resolve().as_uri() if artifact_root is not None else None
            self.experiment_id = self.client.create_experiment(name, artifact_location=location)
        else:
            self.experiment_id = experiment.experiment_id
        if experiment is None or experiment.tags.get(EXPERIMENT_KIND_TAG) != TRAINING_KIND:
            self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)
        self.study_dir = str(study_dir.resolve())
        self.parent_run_id = self._find_or_create_parent(study, reopen, role, suite)

    def _find_or_create_parent(self, study: str, reopen: bool, role: str, suite: SuiteRun | None) -> str:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.role = '{role}' and tags.study_dir = '{self.study_dir}'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if runs:
            run_id = runs[0].info.run_id
            if reopen:
                self.client.update_run(run_id, status="RUNNING")
            return run_id
        tags = {"role": role, "study": study, "study_dir": self.study_dir}
        if suite is not None:  # MLflow's own tag: the UI shows the study's run nested under the suite's
            tags |= {"mlflow.parentRunId": suite.run_id, "suite": suite.experiment}
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
            self.lost = f"could not {what}: {reason(error)}"
            self._warn(
                f"MLflow at {redact(self.uri)} is unreachable ({self.lost}); the study goes on without it and every "
                f"trial is kept in trials.parquet; run `sam-study sync-mlflow {self.study_dir}` once it is back"
            )

    def log_study(self, study_file: Path, resolved: dict[str, Any]) -> None:
        # The file as written, less any password in it (output.tracking_uri may hold one).
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / study_file.name
            copy.write_text(redact(study_file.read_text()))
            self.client.log_artifact(self.parent_run_id, str(copy), "study")
        self.log_spec(resolved)

    def log_suite(self, suite_file: Path, resolved: dict[str, Any]) -> None:
        """A suite's run: the suite file as written (less any password) and the resolved suite."""
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / suite_file.name
            copy.write_text(redact(suite_file.read_text()))
            self.client.log_artifact(self.parent_run_id, str(copy), "suite")
        self.client.log_dict(self.parent_run_id, redacted(resolved), "suite/resolved_suite.json")

    def log_spec(self, resolved: dict[str, Any]) -> None:
        """The resolved spec as ``study/resolved_spec.json`` and as params (those not logged yet); passwords as ***."""
        resolved = redacted(resolved)
        self.client.log_dict(self.parent_run_id, resolved, "study/resolved_spec.json")
        params = flatten_params({k: v for k, v in resolved.items() if k != "methods"})
        for method in resolved["methods"]:
            params.update(flatten_params({f"method.{method['name']}": method}))
        existing = self.client.get_run(self.parent_run_id).data.params
        new = [Param(k, v[:MAX_PARAM_VAL_LENGTH]) for k, v in sorted(params.items()) if k not in existing]
        n = MAX_PARAMS_TAGS_PER_BATCH
        for start in range(0, len(new), n):
            self.client.log_batch(self.parent_run_id, params=new[start : start + n])

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self._guarded(
            f"log {path.name}", lambda: self.client.log_artifact(self.parent_run_id, str(path), artifact_path)
        )

    def log_report(self, files: list[Path], figures_dir: Path, tags: Mapping[str, str] | None = None) -> None:
        self._guarded(
            "log the report", lambda: log_report(self.client, self.parent_run_id, files, figures_dir, tags or {})
        )

    def child_runs(self) -> list[Any]:
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=PAGE,
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


def log_report(
    client: MlflowClient, run_id: str, files: list[Path], figures_dir: Path, tags: Mapping[str, str]
) -> None:
    """The report under the run's ``report/`` artifacts, its figures under ``report/figures/``; stale figures of an
    earlier report are not removed (MLflow artifacts are append-only), they are overwritten by name. ``tags``: a
    sequential study's decisions, ``decision.<method>`` (better, worse, equivalent or undecided)."""
    for path in files:
        client.log_artifact(run_id, str(path), "report")
    if figures_dir.is_dir():
        client.log_artifacts(run_id, str(figures_dir), "report/figures")
    for method, decision in tags.items():
        client.set_tag(run_id, f"decision.{method}", decision)


def attach_report(
    uri: str, run_id: str, files: list[Path], figures_dir: Path, tags: Mapping[str, str] | None = None
) -> None:
    """Attach a report written after the study (``sam-study report``) to the study's existing parent run."""
    client_ = client(uri)
    try:
        client_.get_run(run_id)
    except Exception as error:  # noqa: BLE001 - MLflow raises its own and transport errors alike
        raise TrackingError(
            f"the study's MLflow parent run {run_id} cannot be read at {redact(uri)}: {redact(str(error))}"
        ) from None
    log_report(client_, run_id, files, figures_dir, tags or {})
