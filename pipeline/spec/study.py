"""StudySpec: one YAML study file, validated at the door into frozen typed objects.

``load_study(path)`` reads the file with ``yaml.safe_load`` and raises ``StudySpecError`` naming the file
and the field (``methods[sam].search.rho.low``) for an unknown key, a wrong type or an impossible value,
before anything runs. Every method is also built into a ``TrialConfig`` here, so a hyperparameter that
its optimizer would reject fails now rather than inside a trial an hour later.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from pipeline.data import DataConfig
from pipeline.models import ModelConfig
from pipeline.optim import get_variant, hyperparameter_names, list_optimizers, register_rule
from pipeline.references import ReferenceProblem, add_code_folders, resolve, study_code_folders
from pipeline.spec.errors import first_message, format_validation_error
from pipeline.spec.suggest import did_you_mean
from pipeline.train.config import HyperValue, TrialConfig, drop_defaults

_FROZEN = ConfigDict(frozen=True, extra="forbid")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# Training settings a method may search besides its optimizer's own hyperparameters.
SEARCHABLE_TRAINING = ("lr", "weight_decay", "momentum")


class StudySpecError(ValueError):
    """A study file that cannot run; the message names the file and the field."""


class SearchParam(BaseModel):
    """One searched value: a range ``low``..``high`` (``log`` for a log-uniform draw; integers when both
    bounds are integers) or a list of ``choices``."""

    model_config = _FROZEN

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[HyperValue, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _integer_when_bounds_are(cls, data: Any) -> Any:
        if isinstance(data, dict) and "integer" not in data:
            bounds = [data.get("low"), data.get("high")]
            if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
                return {**data, "integer": True}
        return data

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchParam:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("give either choices or low/high (and log), not both")
            if len(self.choices) < 2:
                raise ValueError(f"choices needs at least two values to search over, got {list(self.choices)}")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a searched value needs low and high (a range) or choices (a list)")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high must be finite, got low={self.low}, high={self.high}")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-uniform range needs low > 0, got low={self.low}")
        return self

    def values(self) -> tuple[Any, ...]:
        """The extreme values the search may try (both bounds, or every choice): each must be valid."""
        if self.choices is not None:
            return self.choices
        assert self.low is not None and self.high is not None
        if self.integer:
            return (int(self.low), int(self.high))
        return (self.low, self.high)


class RuleSpec(BaseModel):
    """A user's SAM-family rule: a registry ``name`` and the class by import string, ``module:Class``."""

    model_config = _FROZEN

    name: str = Field(pattern=NAME_PATTERN)
    rule: str

    @field_validator("rule")
    @classmethod
    def _register(cls, rule: str, info: ValidationInfo) -> str:
        if "name" not in info.data:  # a bad name is reported as such
            return rule
        try:
            register_rule(info.data["name"], resolve(rule))
        except ReferenceProblem as problem:
            raise ValueError(str(problem)) from None
        except ValueError as error:
            raise ValueError(f"{rule}: {error}") from None
        return rule


class MethodSpec(BaseModel):
    """One method of the comparison: a label, the registry optimizer, fixed hyperparameters and an
    optional search space. A method with a search space is tuned; one without runs as written."""

    model_config = _FROZEN

    name: str = Field(pattern=NAME_PATTERN)
    optimizer: str = ""  # the registry name; defaults to ``name``
    hparams: dict[str, HyperValue] = Field(default_factory=dict)
    lr: float | None = Field(None, gt=0)  # overrides training.lr for this method
    search: dict[str, SearchParam] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _optimizer_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("optimizer") and "name" in data:
            return {**data, "optimizer": data["name"]}
        return data

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        valid = list_optimizers()
        if name not in valid:
            hint = did_you_mean(name, valid)
            raise ValueError(f"unknown method {name!r}; valid optimizers: {', '.join(valid)}{hint}")
        return name

    @model_validator(mode="after")
    def _searchable(self) -> MethodSpec:
        allowed = set(hyperparameter_names(self.optimizer)) | set(SEARCHABLE_TRAINING)
        for key, param in self.search.items():
            if key not in allowed:
                raise ValueError(
                    f"search.{key}: {self.optimizer!r} has no hyperparameter {key!r}; searchable: "
                    f"{', '.join(sorted(allowed))}{did_you_mean(key, sorted(allowed))}"
                )
            if key == "rho" and self.learns_rho:
                raise ValueError(
                    f"search.rho: {self.optimizer!r} learns its radius (LETS); remove rho from its search space "
                    "(set the starting radius in hparams.rho, and search rho_lr instead if you like)"
                )
            numbers = [v for v in param.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if key in ("rho", "lr", "rho_lr") and numbers and min(numbers) <= 0:
                raise ValueError(f"search.{key}: {key} must be > 0 everywhere in its range, got {param.values()}")
        return self

    @property
    def learns_rho(self) -> bool:
        return get_variant(self.optimizer).learns_rho

    @property
    def tuned(self) -> bool:
        return bool(self.search)


# The schedule every method shares: TrialConfig's own fields (types, bounds and defaults), minus the ones
# a study sets per trial. Derived rather than restated, so the two can never disagree.
_PER_TRIAL = {
    "data",
    "model",
    "optimizer",
    "hparams",
    "seed",
    "device",
    "checkpoint_dir",
}


class _TrainingDump(BaseModel):
    """TrainingSpec's base: frozen, and its dump leaves out the newer fields at their defaults, as TrialConfig's
    does (``pipeline.train.config.LEFT_OUT_AT_DEFAULT``), so that an older study's spec.json still agrees."""

    model_config = _FROZEN

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return drop_defaults(handler(self))


TrainingSpec = create_model(
    "TrainingSpec",
    __base__=_TrainingDump,
    **{name: (f.annotation, f) for name, f in TrialConfig.model_fields.items() if name not in _PER_TRIAL},
)


class TuningSpec(BaseModel):
    """The budget of the Optuna search per tuned method: ``trials`` per search, ``repeats`` independent
    searches (sampler seeds ``seed``, ``seed + 1``, ...), each training on seed ``train_seed + repeat``;
    ``startup_trials`` random ones first, then batches of ``parallel``."""

    model_config = _FROZEN

    trials: int = Field(8, ge=1)
    repeats: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)
    train_seed: int = Field(10_000, ge=0)
    startup_trials: int = Field(4, ge=1)  # TPE's random start before it models the history
    # After the random start, trials are suggested in batches of this many, each seeing every result before it:
    # a resumed or a larger cluster's search suggests exactly what an uninterrupted one would (batch_search).
    parallel: int = Field(4, ge=1)
    scheduler: Literal["none", "asha"] = "none"
    grace_period: int = Field(5, ge=1)  # ASHA: epochs before a trial may be stopped
    reduction_factor: float = Field(3.0, gt=1)


class SequentialSeeds(BaseModel):
    """Paired seeds in rounds: seeds 0..start-1 first, then ``step`` more per round for each comparison that is
    still undecided, never beyond seed ``max - 1``."""

    model_config = _FROZEN

    start: int = Field(ge=2)  # a paired t interval needs two differences
    step: int = Field(ge=1)
    max: int

    @field_validator("max")
    @classmethod
    def _max_at_least_start(cls, max_: int, info: ValidationInfo) -> int:
        start = info.data.get("start")
        if start is not None and max_ < start:
            raise ValueError(f"must be >= start ({start}), got {max_}")
        return max_

    @property
    def looks(self) -> tuple[int, ...]:
        """The number of seeds at each look: start, start + step, ..., and max as the last."""
        return (*range(self.start, self.max, self.step), self.max)


def _seeds_kind(value: Any) -> str | None:
    if isinstance(value, dict | SequentialSeeds):
        return _ROUNDS
    return _LIST if isinstance(value, list | tuple) else None


# Tags of the two forms of evaluation.seeds. Pydantic puts a tag into an error's path; names of this shape are
# the ones spec/errors.py leaves out, so an error reads evaluation.seeds.start.
_LIST, _ROUNDS = "Seeds[list]", "Seeds[rounds]"
SeedsField = Annotated[
    Annotated[tuple[int, ...], Tag(_LIST)] | Annotated[SequentialSeeds, Tag(_ROUNDS)],
    Discriminator(
        _seeds_kind,
        custom_error_type="seeds_form",
        custom_error_message="must be a list of seeds, e.g. [0, 1, 2], or rounds, e.g. {start: 5, step: 5, max: 40}",
    ),
]


class EvaluationSpec(BaseModel):
    """The evaluation seeds: a list (every method runs every seed), or ``{start, step, max}`` (sequential)."""

    model_config = _FROZEN

    seeds: SeedsField
    # δ, the smallest difference worth finding (sequential seeds only): inside ±δ counts as equivalent; 0: never.
    margin: float | None = Field(None, ge=0, allow_inf_nan=False)
    # Sequential seeds only: stop a comparison whose chance of any decision by max is below this; 0 or unset: never.
    futility: float | None = Field(None, ge=0, lt=1)

    @field_validator("seeds")
    @classmethod
    def _distinct_non_negative(cls, seeds: tuple[int, ...] | SequentialSeeds) -> tuple[int, ...] | SequentialSeeds:
        if isinstance(seeds, SequentialSeeds):
            return seeds
        if len(seeds) < 2:
            raise ValueError(f"a paired comparison needs at least 2 seeds, got {list(seeds)}")
        if any(s < 0 for s in seeds):
            raise ValueError(f"seeds must be >= 0, got {list(seeds)}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct (paired runs are keyed by seed), got {list(seeds)}")
        return seeds

    @field_validator("margin", "futility")
    @classmethod
    def _with_rounds(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and isinstance(info.data.get("seeds"), tuple):
            raise ValueError(
                "applies to sequential seeds only; write seeds as {start: 5, step: 5, max: 40}, "
                f"or remove {info.field_name}"
            )
        return value

    @property
    def sequential(self) -> bool:
        return isinstance(self.seeds, SequentialSeeds)

    @property
    def seed_list(self) -> tuple[int, ...]:
        """Every seed the evaluation may run, in order: the list, or 0..max-1."""
        return tuple(range(self.seeds.max)) if isinstance(self.seeds, SequentialSeeds) else self.seeds

    @property
    def equivalence_margin(self) -> float:
        return self.margin or 0.0

    @property
    def futility_threshold(self) -> float:
        return self.futility or 0.0

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Unset, futility is left out, so that a study without it records the spec it recorded before it existed.
        dumped = handler(self)
        if dumped.get("futility") is None:
            dumped.pop("futility", None)
        return dumped


class ResourcesSpec(BaseModel):
    """Per trial. Fractional GPUs share a device between trials; above 1 a trial gets whole devices."""

    model_config = _FROZEN

    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, gpu: float) -> float:
        if gpu > 1 and gpu != int(gpu):
            raise ValueError(f"gpu above 1 must be a whole number of devices, got {gpu}")
        return gpu

    @property
    def threads(self) -> int:
        return max(1, int(self.cpu))


Test = Literal["t", "wilcoxon"]
Correction = Literal["holm", "bh"]
Alternative = Literal["two-sided", "better"]
DivergedPolicy = Literal["failure", "exclude"]
Metric = Literal[
    "test_accuracy",
    "test_loss",
    "val_accuracy",
    "val_loss",
    "train_loss",
    "final_test_accuracy",
    "final_val_accuracy",
    "shifted_test_accuracy",
    "shifted_test_loss",
]


class StatisticsSpec(BaseModel):
    """How the report compares methods; changing it never invalidates a study folder's trials."""

    model_config = _FROZEN

    metric: Metric = "test_accuracy"  # the _loss metrics are better when lower
    alpha: float = Field(0.05, gt=0, lt=1)
    test: Test = "t"  # the test whose corrected p-value decides; both are reported
    correction: Correction = "holm"
    alternative: Alternative = "two-sided"  # "better": one-sided, method better than reference
    diverged: DivergedPolicy = "failure"  # failure: a diverged run scores the metric's worst value
    confidence_level: float = Field(0.95, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)  # the power the seed recommendation aims for
    bootstrap_resamples: int = Field(9999, ge=100)
    bootstrap_seed: int = Field(0, ge=0)


class RegressionSpec(BaseModel):
    """The nightly decision (``sam-study nightly``): a method regresses when it is significantly worse than the
    accepted baseline, paired by seed, by more than ``margin`` (one-sided t-test on ``metric - baseline + margin``,
    Holm-corrected across methods at ``alpha``). ``sam-study run`` ignores it."""

    model_config = _FROZEN

    metric: Metric = "test_accuracy"  # the _loss metrics are better when lower
    margin: float = Field(ge=0)  # δ, in the metric's units (0.01 = one accuracy point)
    alpha: float = Field(0.05, gt=0, lt=1)


class OutputSpec(BaseModel):
    model_config = _FROZEN

    dir: str = "out"
    tracking_uri: str | None = None  # None: sqlite:///<dir>/mlflow.db


class StudySpec(BaseModel):
    """A whole comparative study."""

    model_config = _FROZEN

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    data: DataConfig
    model: ModelConfig
    training: TrainingSpec = TrainingSpec()  # type: ignore[valid-type]
    # Folders of the user's own code (factories, rules), besides the study file's own; relative paths are read from
    # the study file's folder. Shipped to every Ray worker. Before optimizers: their rules are imported from them.
    code: tuple[str, ...] = ()
    # The user's own SAM-family rules, registered (with lets-<name>) before the methods that name them are read.
    optimizers: tuple[RuleSpec, ...] = ()
    methods: tuple[MethodSpec, ...] = Field(min_length=1)
    reference: str
    tuning: TuningSpec = TuningSpec()
    evaluation: EvaluationSpec
    resources: ResourcesSpec = ResourcesSpec()  # per trial, or per worker of a data-parallel trial
    # Above 1, each trial trains data-parallel (DDP) on this many Ray Train workers; training.perturbation
    # chooses the global or local (m-sharpness) perturbation.
    workers_per_trial: int = Field(1, ge=1)
    max_concurrent: int | None = Field(None, ge=1)  # None: as many as the cluster's resources allow
    retries: int = Field(1, ge=0)  # Ray re-runs a failed trial this many times (from its last checkpoint)
    checkpoint: bool = True  # an epoch checkpoint per trial, so that a retried trial resumes
    output: OutputSpec = OutputSpec()
    statistics: StatisticsSpec = StatisticsSpec()
    regression: RegressionSpec | None = None  # required by `sam-study nightly`

    @model_validator(mode="after")
    def _methods_and_reference(self) -> StudySpec:
        names = [m.name for m in self.methods]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"methods: names must be unique; repeated: {', '.join(duplicates)}")
        if self.reference not in names:
            hint = did_you_mean(self.reference, names)
            raise ValueError(f"reference: {self.reference!r} is not one of the methods ({', '.join(names)}){hint}")
        per_worker = self.training.batch_size / self.workers_per_trial
        if per_worker < 2:
            raise ValueError(
                f"workers_per_trial: {self.workers_per_trial} workers split training.batch_size "
                f"{self.training.batch_size} into fewer than 2 examples each; raise the batch size or use fewer workers"
            )
        if per_worker // self.training.accumulate < 2:
            raise ValueError(
                f"training.accumulate: {self.training.accumulate} micro-batches of {int(per_worker)} examples leave "
                "fewer than 2 in each; lower accumulate or raise training.batch_size"
            )
        return self

    def method(self, name: str) -> MethodSpec:
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)

    @field_validator("code")
    @classmethod
    def _importable(cls, code: tuple[str, ...]) -> tuple[str, ...]:
        # A resolved spec (spec.json) holds absolute folders: its rules import from them when it is read again.
        add_code_folders(folder for folder in code if Path(folder).is_absolute() and Path(folder).is_dir())
        return code

    @property
    def uses_user_code(self) -> bool:
        """Whether the study names a data or model factory or an optimizer rule of its own: a reference outside
        ``pipeline`` (whose factories, such as ``pipeline.models.zoo:timm_model``, every worker has already)."""
        factories = (self.data.factory, self.model.factory, *(r.rule for r in self.optimizers))
        return any(ref is not None and not ref.startswith("pipeline.") for ref in factories)  # shipped: not theirs

    @property
    def rules(self) -> dict[str, str]:
        """The user's rules by registry name: what a worker registers before it reads its trial's config."""
        return {r.name: r.rule for r in self.optimizers}

    @property
    def device(self) -> str:
        return "cuda" if self.resources.gpu > 0 else "cpu"

    def trial_config(
        self,
        method: MethodSpec,
        seed: int,
        params: dict[str, Any] | None = None,
        checkpoint_dir: str | None = None,
    ) -> TrialConfig:
        """The TrialConfig of ``method`` on ``seed``, with searched ``params`` laid over its fixed values."""
        params = dict(params or {})
        training = self.training.model_dump()
        training["lr"] = method.lr if method.lr is not None else training["lr"]
        for key in SEARCHABLE_TRAINING:
            if key in params:
                training[key] = params.pop(key)
        return TrialConfig(
            data=self.data,
            model=self.model,
            optimizer=method.optimizer,
            hparams={**method.hparams, **params},
            seed=seed,
            device=self.device,
            checkpoint_dir=checkpoint_dir,
            **training,
        )

    def comparable_dump(self) -> dict[str, Any]:
        """The fields that decide the results: a study resumed into the same folder must agree on them."""
        return comparable(self.model_dump(mode="json"))


_BOOKKEEPING = ("output", "max_concurrent", "retries", "description", "statistics", "regression", "code")


def comparable(dump: dict[str, Any]) -> dict[str, Any]:
    """A spec dump without the fields that do not change a trial's result (how it is run, reported, named)."""
    out = {k: v for k, v in dump.items() if k not in _BOOKKEEPING}
    if isinstance((dump.get("evaluation") or {}).get("seeds"), dict):
        # Sequential seeds: the metric and α decide which seeds run.
        statistics = dump.get("statistics") or {}
        out["statistics"] = {k: statistics.get(k) for k in ("metric", "alpha")}
    return out


def recorded_comparable(dump: dict[str, Any]) -> dict[str, Any]:
    """``comparable`` of a spec.json, written by this version or an earlier one: read through today's spec first,
    so that a field added since (at its default, as the earlier version behaved) compares equal."""
    try:
        return StudySpec.model_validate(dump).comparable_dump()
    except ValidationError:
        return comparable(dump)


def check_every_trial_builds(spec: StudySpec) -> None:
    """Build each method's TrialConfig at its fixed values and at the bounds of every searched value."""
    for method in spec.methods:
        where = f"methods[{method.name}]"
        try:
            spec.trial_config(method, spec.evaluation.seed_list[0])
        except ValidationError as error:
            raise StudySpecError(f"{where}.hparams: {first_message(error)}") from None
        for key, param in method.search.items():
            for value in param.values():
                try:
                    spec.trial_config(method, spec.evaluation.seed_list[0], {key: value})
                except ValidationError as error:
                    raise StudySpecError(f"{where}.search.{key}: {value!r} fails: {first_message(error)}") from None


def parse_study(raw: Any, source: str = "<study>") -> StudySpec:
    """Validate an already-parsed study mapping; errors name ``source`` and the field."""
    if not isinstance(raw, dict):
        raise StudySpecError(f"{source}: a study file must be a mapping of fields, got {type(raw).__name__}")
    if "tasks" in raw:
        raise StudySpecError(
            f"{source}: a suite file (it has tasks:), not a single study; `sam-study run` runs suites, this "
            "command takes a study file"
        )
    if raw.get("optimizers") and Path(source).is_file():  # the rules import from the study's folders
        code = raw.get("code") if isinstance(raw.get("code"), list) else []
        add_code_folders(f for f in study_code_folders(source, map(str, code)) if f.is_dir())
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as error:
        raise StudySpecError(f"{source}: {format_validation_error(error, raw, StudySpec)}") from None
    try:
        check_every_trial_builds(spec)
    except StudySpecError as error:
        raise StudySpecError(f"{source}: {error}") from None
    return spec


def read_yaml(path: str | Path) -> Any:
    """A study or suite file, parsed; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StudySpecError(f"{path}: no such study file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StudySpecError(f"{path}: cannot be read: {error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise StudySpecError(f"{path}: not valid YAML: {error}") from None


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study file."""
    return parse_study(read_yaml(path), str(path))
