"""SuiteSpec: one YAML suite file, a study per task sharing its methods, seeds and statistics.

A suite file is a study file whose ``data`` and ``model`` move into a list of ``tasks``; each task names its data,
its model, and optionally its own ``training`` and ``tuning`` (laid key by key over the shared ones) and extra
``methods`` of its own (appended to the shared ones). Each task becomes a whole ``StudySpec`` here, validated at the
door like a study file: an error names the task's field (``tasks[mnist1d_cnn].training.epochs``). ``claims`` are
the statements the suite report puts to the test; ``aggregate`` says how scores are aggregated over tasks;
``published`` sets a paper's own table beside the suite's runs of the same task.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.spec.errors import format_validation_error, validation_messages
from pipeline.spec.study import (
    NAME_PATTERN,
    Metric,
    StudySpec,
    StudySpecError,
    check_every_trial_builds,
    read_yaml,
)
from pipeline.spec.suggest import did_you_mean

_FROZEN = ConfigDict(frozen=True, extra="forbid")
SUITE_FILE = "suite.json"  # the resolved suite, written into the suite folder when a suite starts
# What a task sets itself; everything else of a study is shared by the whole suite.
TASK_KEYS = ("name", "description", "data", "model", "training", "tuning", "methods")
_MERGED = ("training", "tuning")  # a task's own values are laid key by key over the shared ones
_SUITE_ONLY = ("tasks", "claims", "aggregate", "published")


class ClaimSpec(BaseModel):
    """A statement to test across tasks: ``method`` is better than ``against`` (``kind: better``), or at least not
    worse (``kind: not_worse``: better or equivalent), on ``tasks`` (empty: every task that runs both), judged on
    ``metric`` (default: the suite's ``statistics.metric``)."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    source: str = ""  # the paper or notebook that makes the claim
    method: str
    against: str
    kind: Literal["better", "not_worse"] = "better"
    tasks: tuple[str, ...] = ()
    metric: Metric | None = None

    @model_validator(mode="after")
    def _two_methods(self) -> ClaimSpec:
        if self.method == self.against:
            raise ValueError(f"method and against are both {self.method!r}; a claim compares two methods")
        return self


class PublishedSpec(BaseModel):
    """A paper's published table for one task, to set beside the suite's own runs: per method, the mean and the
    standard deviation (ddof 0) of ``metric`` over ``seeds`` runs."""

    model_config = _FROZEN

    source: str = Field(min_length=1)
    task: str
    seeds: int = Field(ge=1)
    metric: Metric = "test_accuracy"
    values: dict[str, tuple[float, float]] = Field(min_length=1)


class AggregateSpec(BaseModel):
    """How scores are aggregated over tasks: raw (the metric as recorded), or normalised per task so that the
    ``baseline`` method's mean scores 0 and the best method's mean scores 1 (``baseline_to_best``)."""

    model_config = _FROZEN

    normalisation: Literal["raw", "baseline_to_best"] = "raw"
    baseline: str = "sgd"
    bootstrap_reps: int = Field(2000, ge=100)
    bootstrap_seed: int = Field(0, ge=0)


class _SuiteShape(BaseModel):
    """The suite's own keys, checked before the tasks become studies (the rest is checked per task)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    tasks: tuple[dict[str, Any], ...] = Field(min_length=1)
    claims: tuple[ClaimSpec, ...] = ()
    aggregate: AggregateSpec = AggregateSpec()
    published: tuple[PublishedSpec, ...] = ()


class SuiteSpec(BaseModel):
    """A validated suite: its name, a ``StudySpec`` per task (named after the task), its claims and aggregation.

    The checks across fields (unique task names; claims, published tables and the aggregation naming tasks and
    methods that exist) live here, so a suite read back from ``suite.json`` is checked as one read from its file."""

    model_config = _FROZEN

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    tasks: tuple[StudySpec, ...] = Field(min_length=1)
    claims: tuple[ClaimSpec, ...] = ()
    aggregate: AggregateSpec = AggregateSpec()
    published: tuple[PublishedSpec, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> SuiteSpec:
        # One validator, so the checks run in this order and the first failure is the one reported.
        _check_unique_tasks(self)
        _check_claims(self)
        _check_published(self)
        _check_aggregate(self)
        return self

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    def task(self, name: str) -> StudySpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def reference(self) -> str:
        return self.tasks[0].reference

    @property
    def methods(self) -> tuple[str, ...]:
        """Every method of any task, in the order they first appear."""
        names: list[str] = []
        for t in self.tasks:
            names += [m.name for m in t.methods if m.name not in names]
        return tuple(names)

    def claim_tasks(self, claim: ClaimSpec) -> tuple[str, ...]:
        """The tasks a claim is judged on: its own list, or every task that runs both of its methods."""
        if claim.tasks:
            return claim.tasks
        return tuple(t.name for t in self.tasks if _runs(t, claim.method) and _runs(t, claim.against))

    def comparable_dump(self) -> dict[str, Any]:
        """What decides the suite's trials: each task's comparable study fields (a resumed suite must agree)."""
        return {t.name: t.comparable_dump() for t in self.tasks}


def _runs(study: StudySpec, method: str) -> bool:
    return any(m.name == method for m in study.methods)


def is_suite(raw: Any) -> bool:
    """A mapping with ``tasks`` is a suite file; anything else is read as a study file."""
    return isinstance(raw, dict) and "tasks" in raw


def parse_suite(raw: Any, source: str = "<suite>") -> SuiteSpec:
    """Validate an already-parsed suite mapping; errors name ``source``, the task and the field."""
    if not isinstance(raw, dict):
        raise StudySpecError(f"{source}: a suite file must be a mapping of fields, got {type(raw).__name__}")
    suite_keys = {k: raw[k] for k in ("name", "description", *_SUITE_ONLY) if k in raw}
    try:
        shape = _SuiteShape.model_validate(suite_keys)
    except ValidationError as error:
        raise StudySpecError(f"{source}: {format_validation_error(error, raw, _SuiteShape)}") from None
    for key in ("data", "model"):
        if key in raw:
            raise StudySpecError(f"{source}: {key}: a suite sets {key} per task; move it into each of tasks[...]")
    shared = {k: v for k, v in raw.items() if k not in ("name", "description", *_SUITE_ONLY)}
    studies = tuple(_task_study(task, i, shared, source) for i, task in enumerate(shape.tasks))
    try:
        return SuiteSpec(
            name=shape.name,
            description=shape.description,
            tasks=studies,
            claims=shape.claims,
            aggregate=shape.aggregate,
            published=shape.published,
        )
    except ValidationError as error:
        raise StudySpecError(f"{source}: {format_validation_error(error, raw, SuiteSpec)}") from None


def _task_study(task: dict[str, Any], index: int, shared: dict[str, Any], source: str) -> StudySpec:
    """One task as a whole study: the shared fields, the task's own laid over them."""
    label = task.get("name") if isinstance(task.get("name"), str) else str(index)
    where = f"{source}: tasks[{label}]"
    unknown = [k for k in task if k not in TASK_KEYS]
    if unknown:
        key = unknown[0]
        hint = did_you_mean(key, TASK_KEYS) or f"; a task sets only {', '.join(TASK_KEYS)}"
        raise StudySpecError(f"{where}.{key}: unknown key{hint}")
    for key in ("name", "data", "model"):
        if key not in task:
            raise StudySpecError(f"{where}.{key}: Field required (every task names its {key})")
    raw = {**shared, **{k: v for k, v in task.items() if k not in (*_MERGED, "methods")}}
    for key in _MERGED:
        if key in task:
            if not isinstance(task[key], dict):
                raise StudySpecError(f"{where}.{key}: must be a mapping of fields, got {type(task[key]).__name__}")
            raw[key] = {**(shared.get(key) or {}), **task[key]}
    if "methods" in task:
        if not isinstance(task["methods"], list):
            raise StudySpecError(f"{where}.methods: must be a list of methods, got {type(task['methods']).__name__}")
        raw["methods"] = [*(shared.get("methods") or []), *task["methods"]]
    try:
        study = StudySpec.model_validate(raw)
        check_every_trial_builds(study)
    except ValidationError as error:
        fields = validation_messages(error, raw, StudySpec)
        messages = [_task_message(field, message, task, source) for field, message in fields]
        raise StudySpecError("; ".join(messages)) from None
    except StudySpecError as error:
        raise StudySpecError(f"{where}.{error}") from None
    return study


def _task_message(field: str, message: str, task: dict[str, Any], source: str) -> str:
    """An error in a task's study, named where the user wrote the field: ``tasks[NAME].training.epochs`` when the
    task sets it, the shared field (``evaluation.seeds.start``, for task NAME) when the suite does."""
    top = re.split(r"[.\[]", field, maxsplit=1)[0]
    own_methods = {m.get("name") for m in task.get("methods") or [] if isinstance(m, dict)}
    method = re.match(r"^methods\[([^\]]+)\]", field)
    own = (top in task and top != "methods") or (method is not None and method.group(1) in own_methods)
    if own:
        return f"{source}: tasks[{task['name']}].{field}: {message}"
    return f"{source}: {field} (in task {task['name']}): {message}" if field else f"{source}: {message}"


def _check_unique_tasks(suite: SuiteSpec) -> None:
    names = list(suite.task_names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"tasks: names must be unique; repeated: {', '.join(repeated)}")


def _check_claims(suite: SuiteSpec) -> None:
    for claim in suite.claims:
        where = f"claims[{claim.name}]"
        for task in claim.tasks:
            if task not in suite.task_names:
                hint = did_you_mean(task, suite.task_names)
                raise ValueError(f"{where}.tasks: no task {task!r} ({', '.join(suite.task_names)}){hint}")
        for field in ("method", "against"):
            name = getattr(claim, field)
            if name not in suite.methods:
                hint = did_you_mean(name, suite.methods)
                raise ValueError(f"{where}.{field}: no method {name!r} ({', '.join(suite.methods)}){hint}")
            missing = [t for t in claim.tasks if not _runs(suite.task(t), name)]
            if missing:
                raise ValueError(f"{where}.{field}: task(s) {', '.join(missing)} do not run {name!r}")
        if not suite.claim_tasks(claim):
            raise ValueError(f"{where}: no task runs both {claim.method!r} and {claim.against!r}")


def _check_published(suite: SuiteSpec) -> None:
    for i, table in enumerate(suite.published):
        where = f"published[{i}]"
        if table.task not in suite.task_names:
            hint = did_you_mean(table.task, suite.task_names)
            raise ValueError(f"{where}.task: no task {table.task!r} ({', '.join(suite.task_names)}){hint}")
        task = suite.task(table.task)
        for method, (_, std) in table.values.items():
            if not _runs(task, method):
                names = [m.name for m in task.methods]
                hint = did_you_mean(method, names)
                raise ValueError(f"{where}.values.{method}: task {table.task} does not run {method!r}{hint}")
            if std < 0:
                raise ValueError(f"{where}.values.{method}: the standard deviation must be >= 0, got {std}")


def _check_aggregate(suite: SuiteSpec) -> None:
    baseline = suite.aggregate.baseline
    if suite.aggregate.normalisation == "raw":
        return
    missing = [t.name for t in suite.tasks if not _runs(t, baseline)]
    if missing:
        raise ValueError(
            f"aggregate.baseline: {baseline!r} is not a method of task(s) {', '.join(missing)}; "
            "baseline_to_best normalisation needs it on every task (or use normalisation: raw)"
        )
    references = {t.reference for t in suite.tasks}
    if len(references) > 1:  # a task cannot change it (reference is shared), but say so if it ever could
        raise ValueError(f"reference: every task must share one reference, got {sorted(references)}")


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file."""
    return parse_suite(read_yaml(path), str(path))
