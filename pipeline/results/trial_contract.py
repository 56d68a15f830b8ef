"""The trial boundary: everything that crosses between the driver, a trial's worker and the trials table.

Read this module to write against the boundary. A trial goes through it in four steps:

1. The driver plans it: a ``TrialPlan``, whose ``config`` is the typed ``TrialConfig`` that
   ``run_trial(TrialConfig) -> TrialResult`` (``pipeline.train``) runs; the rest of the plan says where to log, what
   the worker may use, and the provenance its row records.
2. The worker reports each epoch (``EpochReport``) and, when the trial runs to its end, the whole ``TrialResult``
   once (``FinalReport``).
3. The driver learns how the trial ended (``TrialOutcome``): the final report, or, for a trial that failed or that
   the scheduler stopped, its last epoch report.
4. The outcome becomes one ``TrialRow`` (``trial_row`` below; ``pipeline.results.row`` holds the table's schema).

Ray carries a plan and each report as a dict of JSON values; ``to_tune`` and ``from_tune`` are the one conversion
each way, and nothing else reads those dicts. A report's values are what the trial measured: nothing changes them
on the way, and a non-finite float is None once it is in a ``FinalReport`` or a row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from pipeline._io import finite_or_none
from pipeline.optim import default_hyperparameters, register_rule, set_by_trainer
from pipeline.references import resolve
from pipeline.results.row import Phase, Status, TrialRow
from pipeline.train.config import TrialConfig
from pipeline.train.result import EpochRecord, TrialResult

METRIC = "objective"  # what Tune's searcher and scheduler maximise: validation accuracy, 0 for a diverged trial
_PLAN = "plan"  # the key of the plan in a Tune trial's config (and in a Ray Train worker's loop config)


@dataclass(frozen=True)
class Tracking:
    """Where a trial logs its MLflow child run: under the study's parent run."""

    uri: str
    experiment_id: str
    parent_run_id: str


@dataclass(frozen=True)
class TrialPlan:
    """What a worker receives: one trial of a study, keyed so that a resumed study can tell what is done."""

    key: str  # unique within the study: tune/<method>/search<s>/trial<i> or eval/<method>/seed<n>
    study: str
    phase: Phase
    method: str  # the study's label for the method
    optimizer: str  # its registry name
    seed: int
    config: TrialConfig  # what run_trial runs
    params: dict[str, Any] = field(default_factory=dict)  # the searched values (tuning phase)
    search: int | None = None  # tuning repeat
    trial_index: int | None = None  # order within that search
    round: int | None = None  # evaluation with sequential seeds: the round that first runs its seed
    threads: int = 1
    tracking: Tracking | None = None
    git_commit: str = "unknown"
    # Data-parallel trials: the Ray Train workers, what each gets, and where Ray Train keeps its run.
    workers: int = 1
    cpu_per_worker: float = 1.0
    gpu_per_worker: float = 0.0
    train_storage: str | None = None
    # The user's own SAM-family rules by registry name (``module:Class``): registered before ``config`` is read.
    rules: dict[str, str] = field(default_factory=dict)
    # An evaluation trial's folder for its per-example outcomes (``pipeline.results.outcomes``); None: keep none.
    outcomes_dir: str | None = None

    def to_tune(self) -> dict[str, Any]:
        """The trial's config as Ray carries it: ``{"plan": <the plan as JSON values>}``."""
        plan = {f.name: getattr(self, f.name) for f in fields(self)}
        plan["config"] = self.config.model_dump(mode="json")
        plan["params"] = dict(self.params)
        plan["tracking"] = asdict(self.tracking) if self.tracking is not None else None
        plan["rules"] = dict(self.rules)
        return {_PLAN: plan}

    @classmethod
    def from_tune(cls, config: dict[str, Any]) -> TrialPlan:
        """The plan of a Tune trial's ``config`` (``to_tune``'s output); the TrialConfig is validated again."""
        plan = dict(config[_PLAN])
        tracking = plan.get("tracking")
        plan["tracking"] = Tracking(**tracking) if tracking else None
        for name, rule in plan.get("rules", {}).items():  # Ray shipped their modules with the study's code
            register_rule(name, resolve(rule))
        plan["config"] = TrialConfig.model_validate(plan["config"])
        return cls(**plan)


@dataclass(frozen=True)
class EpochReport:
    """What a trial reports after each epoch: ASHA decides on it, and it is all that is left of a trial that did not
    run to its end. Names as Tune shows them (``epoch_seconds`` is ``EpochRecord.seconds``)."""

    epoch: int  # 0-based
    train_loss: float | None
    val_loss: float | None
    val_accuracy: float | None
    lr: float | None
    epoch_seconds: float | None
    rho: float | None  # LETS's radius at the end of the epoch
    mlflow_run_id: str | None  # the trial's child run, when it logs one

    @classmethod
    def of(cls, record: EpochRecord, mlflow_run_id: str | None) -> EpochReport:
        return cls(
            epoch=record.epoch,
            train_loss=record.train_loss,
            val_loss=record.val_loss,
            val_accuracy=record.val_accuracy,
            lr=record.lr,
            epoch_seconds=record.seconds,
            rho=record.rho,
            mlflow_run_id=mlflow_run_id,
        )

    def metrics(self) -> dict[str, float | None]:
        """The epoch's measured values by name (what Tune charts)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("epoch", "mlflow_run_id")}

    def to_tune(self) -> dict[str, Any]:
        return {METRIC: self.val_accuracy, **asdict(self)}

    @classmethod
    def from_tune(cls, result: dict[str, Any]) -> EpochReport | None:
        """The epoch report in a Tune result; None when it holds none (a trial that failed before its first)."""
        if result.get("epoch") is None:
            return None
        return cls(**{f.name: result.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class FinalReport:
    """The last report of a trial that ran to its end: its whole ``TrialResult`` (non-finite floats as None)."""

    result: TrialResult
    node: str | None  # where it ran
    mlflow_run_id: str | None

    @classmethod
    def of(cls, result: TrialResult, node: str | None, mlflow_run_id: str | None) -> FinalReport:
        return cls(_result_from_dict(finite_or_none(result.to_dict())), node, mlflow_run_id)

    @property
    def objective(self) -> float:
        """``METRIC``: a diverged trial scores 0, so that no search selects it."""
        value = self.result.val_accuracy if self.result.status == "ok" else 0.0
        return value if value is not None else 0.0

    def to_tune(self) -> dict[str, Any]:
        return {
            METRIC: self.objective,
            "final": True,
            "result_json": json.dumps(self.result.to_dict()),
            "node": self.node,
            "mlflow_run_id": self.mlflow_run_id,
        }

    @classmethod
    def from_tune(cls, result: dict[str, Any]) -> FinalReport | None:
        """The final report in a Tune result; None for an epoch's report."""
        if not result.get("final"):
            return None
        return cls(
            _result_from_dict(json.loads(result["result_json"])), result.get("node"), result.get("mlflow_run_id")
        )


def _result_from_dict(data: dict[str, Any]) -> TrialResult:
    """``TrialResult.to_dict()`` read back: a field that is not the dataclass's fails here, by name."""
    return TrialResult(**{**data, "history": [EpochRecord(**record) for record in data["history"]]})


@dataclass(frozen=True)
class TrialOutcome:
    """What the driver learns when a trial ends."""

    plan: TrialPlan
    status: Status
    final: FinalReport | None = None  # the trial ran to its end
    last_epoch: EpochReport | None = None  # otherwise: the last epoch it reported, if any
    clock_s: float | None = None  # and Ray's clock of it
    error: str | None = None  # a failed trial's last error line
    traceback: str | None = None  # and its whole error text, as Ray recorded it
    stopped_by_scheduler: bool = False
    mlflow_run_id: str | None = None  # its child run, as its last report (of either kind) named it

    @property
    def node(self) -> str | None:
        return self.final.node if self.final is not None else None

    @classmethod
    def from_tune(cls, config: dict[str, Any], last_result: dict[str, Any], error: str | None = None) -> TrialOutcome:
        """A Tune trial's outcome from its ``config`` and its last result: failed when Tune gives an ``error`` (the
        trial's error text, a traceback ending in the error's line); else ended with its final report, or stopped
        by the scheduler between epochs."""
        plan, run_id = TrialPlan.from_tune(config), last_result.get("mlflow_run_id")
        final = FinalReport.from_tune(last_result) if error is None else None
        if final is not None:
            return cls(plan, final.result.status, final=final, mlflow_run_id=run_id)
        last, clock = EpochReport.from_tune(last_result), last_result.get("time_total_s")  # Tune's own key
        if error is not None:
            lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
            line = lines[-1] if lines else "the trial failed (no error text was recorded)"
            failed = {"error": line, "traceback": error.strip() or None, "mlflow_run_id": run_id}
            return cls(plan, "failed", last_epoch=last, clock_s=clock, **failed)
        return cls(plan, "ok", last_epoch=last, clock_s=clock, stopped_by_scheduler=True, mlflow_run_id=run_id)


# ------------------------------------------------------------------------------------------- the row a trial becomes

# The row columns that ``trial_row`` computes; every other column is copied by name from the plan, the final
# result or the TrialConfig (in that order of precedence), and ``check_columns`` proves at import that this covers
# every column and every field of the result.
_COMPUTED = frozenset(
    {
        "trial_key",  # plan.key
        "status", "error", "traceback", "stopped_by_scheduler", "node", "mlflow_run_id",  # the outcome's
        "rho", "hparams",  # the optimizer's hyperparameters with its defaults, less those the trainer sets
        "params_json", "config_json",
        "seconds_per_epoch", "final_rho", "rho_trajectory", "history_json",  # reshaped from the result
        "code_digest", "versions", "finished_at",  # the driver's provenance
    }
)  # fmt: skip
# TrialResult fields that are not copied into the row column of the same name: the plan's (optimizer, seed,
# config), the outcome's (status, error), and the reshaped ones (history, rho_trajectory, versions).
_RESULT_RESHAPED = frozenset(
    {"status", "optimizer", "seed", "config", "error", "history", "rho_trajectory", "versions"}
)


class ContractError(TypeError):
    """A result, row or config whose fields no longer match: raised when this module is imported."""


def _names(kind: type) -> list[str]:
    return list(kind.model_fields) if hasattr(kind, "model_fields") else [f.name for f in fields(kind)]


def check_columns(result: type = TrialResult, row: type = TrialRow) -> None:
    """Every field of ``result`` becomes a column of ``row`` (by name, or reshaped as ``_RESULT_RESHAPED`` says) and
    every column of ``row`` comes from somewhere; a ``ContractError`` names what does not. Run at import."""
    result_names, row_names = set(_names(result)), set(_names(row))
    problems = [f"{result.__name__}.{n} is no column of {row.__name__}" for n in result_names - _RESULT_RESHAPED
                if n not in row_names]  # fmt: skip
    problems += [f"{result.__name__} has no field {n}" for n in sorted(_RESULT_RESHAPED - result_names)]
    problems += [f"{row.__name__} has no column {n}" for n in sorted(_COMPUTED - row_names)]
    sources = _COMPUTED | set(_names(TrialPlan)) | result_names | set(_names(TrialConfig))
    problems += [f"nothing fills {row.__name__}.{n}" for n in _names(row) if n not in sources]
    if problems:
        raise ContractError("the trial contract does not hold: " + "; ".join(sorted(problems)))


check_columns()
_ROW = [f.name for f in fields(TrialRow)]
PLAN_COLUMNS = tuple(n for n in _ROW if n in _names(TrialPlan) and n not in _COMPUTED)
RESULT_COLUMNS = tuple(n for n in _names(TrialResult) if n not in _RESULT_RESHAPED)
CONFIG_COLUMNS = tuple(
    n for n in _ROW if n in TrialConfig.model_fields and n not in {*_COMPUTED, *PLAN_COLUMNS, *RESULT_COLUMNS}
)


@dataclass(frozen=True)
class StudyProvenance:
    """What the driver adds to every row of its study."""

    code_digest: str | None = None
    versions: dict[str, str] = field(default_factory=dict)  # library -> version, of the stack around the trials


def trial_row(outcome: TrialOutcome, provenance: StudyProvenance) -> TrialRow:
    """The trials-table row of a trial that ended. A trial that did not run to its end (failed, or stopped by the
    scheduler) has its last epoch report's metrics, Ray's clock as ``wall_time_s``, and None for the rest."""
    plan = outcome.plan
    hparams = {
        k: v
        for k, v in {**default_hyperparameters(plan.optimizer), **plan.config.hparams}.items()
        if k not in set_by_trainer(plan.optimizer)
    }
    row = TrialRow(
        **{n: getattr(plan, n) for n in PLAN_COLUMNS},
        **{n: getattr(plan.config, n) for n in CONFIG_COLUMNS},
        trial_key=plan.key,
        status=outcome.status,
        error=outcome.error,
        traceback=outcome.traceback,
        stopped_by_scheduler=outcome.stopped_by_scheduler,
        node=outcome.node,
        mlflow_run_id=outcome.mlflow_run_id,
        rho=hparams.get("rho"),
        hparams=hparams,
        params_json=json.dumps(plan.params, sort_keys=True),
        config_json=json.dumps(plan.config.model_dump(mode="json"), sort_keys=True),
        code_digest=provenance.code_digest,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if outcome.final is not None:
        result = outcome.final.result
        return row.replace(**_measured(result), versions={**provenance.versions, **result.versions})
    return row.replace(**_last_epoch(outcome), versions=dict(provenance.versions))


def _measured(result: TrialResult) -> dict[str, Any]:
    epochs, trajectory = result.epochs_run, result.rho_trajectory
    return {
        **{n: getattr(result, n) for n in RESULT_COLUMNS},
        "seconds_per_epoch": result.train_time_s / epochs if epochs else None,
        "rho_trajectory": tuple(trajectory) if trajectory is not None else None,
        "final_rho": trajectory[-1] if trajectory else None,
        "history_json": json.dumps([asdict(record) for record in result.history]),
    }


def _last_epoch(outcome: TrialOutcome) -> dict[str, Any]:
    """Ray's own clock of the trial, and the epochs it reported, stand in for the TrialResult's."""
    last = outcome.last_epoch
    reported = finite_or_none(asdict(last)) if last is not None else {}
    return {
        **{n: reported.get(n) for n in RESULT_COLUMNS},
        "wall_time_s": finite_or_none(outcome.clock_s),
        "epochs_run": last.epoch + 1 if last is not None else None,
        "final_rho": reported.get("rho"),
    }


def plan_of_row(row: TrialRow, workers: int = 1) -> TrialPlan:
    """``trial_row``'s inverse for the plan: the plan the row's trial was handed (``workers``: the study's), from
    the same columns; for rebuilding its child run (``sync-mlflow``)."""
    return TrialPlan(
        **{n: getattr(row, n) for n in PLAN_COLUMNS},
        key=row.trial_key,
        config=TrialConfig.model_validate(row.config),  # as the worker read it from its plan
        params=row.params,
        workers=workers,
    )


def result_of_row(row: TrialRow) -> dict[str, Any] | None:
    """``trial_row``'s inverse for a trial that ran to its end: its ``TrialResult.to_dict()`` (what its child run
    logged as ``result.json``), rebuilt from the row; None for a trial that did not."""
    if not row.history_json:
        return None
    reshaped = {
        "status": row.status,
        "optimizer": row.optimizer,
        "seed": row.seed,
        "config": row.config,
        "error": row.error,
        "history": row.history,
        "rho_trajectory": list(row.rho_trajectory) if row.rho_trajectory is not None else None,
        "versions": {k: v for k, v in row.versions.items() if v},
    }
    return {n: reshaped[n] if n in _RESULT_RESHAPED else getattr(row, n) for n in _names(TrialResult)}
