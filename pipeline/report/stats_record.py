"""The typed records of ``stats.json``: what ``analyse`` computes and the markdown, the figures and the suite read.

``StudyAnalysis.to_dict`` is the whole file, field by field in the order below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from pydantic import BaseModel

from pipeline._io import finite_or_none
from pipeline.data import DataConfig
from pipeline.decisions import StudyDecisions
from pipeline.models import ModelConfig
from pipeline.spec.study import StatisticsSpec, TrainingSpec, TuningSpec
from pipeline.stats.comparison import Comparison

NOT_NEEDED = "not needed"  # a run's status: a sequential study never needed that seed of that method


@dataclass(frozen=True)
class RunCounts:
    method: str
    ok: int
    diverged: int
    failed: int
    missing: int
    scored_as_failure: int

    @property
    def planned(self) -> int:
        """The runs the study needed of this method: every seed of a list; in a sequential study, those its
        comparisons needed."""
        return self.ok + self.diverged + self.failed + self.missing


@dataclass(frozen=True)
class MethodCost:
    """Compute of one method. ``passes_per_step`` is what its evaluation runs recorded (fractional for LETS: a
    validation pass every ``update_every`` steps) and ``passes_vs_reference`` that over the reference's: a property
    of the algorithm, the same on every rerun. Times are measured wall seconds of whole trials and move with the
    machine's load: ``time_vs_reference`` and ``time_vs_sgd`` are its mean evaluation run time over the
    reference's and SGD's; ``gain_vs_sgd`` its mean metric minus SGD's; ``gain_per_extra_sgd_run`` that gain per
    extra SGD-run of compute, ``gain_vs_sgd / (time_vs_sgd - 1)`` (None at or below SGD's cost)."""

    method: str
    optimizer: str
    passes_per_step: float | None
    seconds_per_epoch: float | None
    eval_runs: int
    eval_time_s: float
    mean_run_time_s: float | None
    tuning_trials: int
    tuning_time_s: float
    total_time_s: float
    time_vs_sgd: float | None
    gain_vs_sgd: float | None
    gain_per_extra_sgd_run: float | None
    passes_vs_reference: float | None = None
    time_vs_reference: float | None = None


@dataclass(frozen=True)
class TunedVersusLets:
    """A LETS method against the fixed-ρ method it wraps, whose ρ Optuna tuned. Per run: the paired difference
    ``lets - tuned`` (Holm-corrected across the LETS pairs). With tuning counted: the compute to obtain one
    trained model, the tuned method's whole search plus one run against one LETS run."""

    lets_method: str
    tuned_method: str
    n_pairs: int
    lets_mean: float | None
    tuned_mean: float | None
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    t_p_value: float | None
    wilcoxon_p_value: float | None
    t_p_holm: float | None
    lets_run_time_s: float | None
    tuned_run_time_s: float | None
    tuning_time_s: float
    tuning_trials: int
    lets_cost_per_model_s: float | None
    tuned_cost_per_model_s: float | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TuningPoint:
    rho: float | None
    objective: float | None  # validation accuracy; 0 for a diverged trial, None for a failed one
    status: str
    params: dict[str, Any]
    selected: bool


@dataclass(frozen=True)
class TuningSummary:
    method: str
    source: str  # fixed | tuned | fallback
    params: dict[str, Any]
    val_accuracy: float | None
    trials: int
    failed: int
    diverged: int
    time_s: float
    points: tuple[TuningPoint, ...]


@dataclass(frozen=True)
class LetsTrajectory:
    method: str
    seed: int
    rho: tuple[float, ...]  # the radius at the start and after every epoch


@dataclass(frozen=True)
class ShiftSummary:
    """Accuracy on the shifted test set and the gap ``test - shifted`` (how much the shift costs), over seeds."""

    method: str
    n: int
    test_mean: float
    shifted_mean: float
    gap_mean: float
    gap_std: float | None


@dataclass(frozen=True)
class SpreadSummary:
    """Where the spread of one comparison with the reference comes from (``pipeline.stats.variance_split``): the
    standard deviation over seeds of the paired difference in test accuracy, the finite test set's share of its
    variance with the interval, the two parts as standard deviations, and the half-width of the mean difference's
    t-interval now, with ``factor`` times the seeds, and with a ``factor`` times larger test set."""

    method: str
    seeds: int
    examples: int
    sd: float
    test_set_share: float
    test_set_share_low: float
    test_set_share_high: float
    sd_test_set: float
    sd_between_runs: float
    factor: int
    half_width: float
    half_width_more_seeds: float
    half_width_larger_test_set: float
    lever: str  # "test set", "seeds" or "both"


@dataclass(frozen=True)
class TrialsRecorded:
    """The trials behind the report: tuning and evaluation trials, and their summed wall seconds."""

    tune: int
    eval: int
    compute_s: float


@dataclass(frozen=True)
class Provenance:
    """What the trials ran with: the code, the library versions (library -> the versions the rows recorded), the
    machines, and the study's design as its spec gave it."""

    git_commits: tuple[str, ...]
    versions: dict[str, tuple[str, ...]]
    devices: tuple[str, ...]
    nodes: tuple[str, ...]
    data: DataConfig
    model: ModelConfig
    training: TrainingSpec  # type: ignore[valid-type]
    tuning: TuningSpec
    seeds: tuple[int, ...]
    workers_per_trial: int
    trials: TrialsRecorded


@dataclass(frozen=True)
class StudyAnalysis:
    study: str
    description: str
    study_dir: str
    statistics: StatisticsSpec
    higher_is_better: bool
    reference: str
    seeds: tuple[int, ...]
    methods: tuple[str, ...]
    scores: list[list[float | None]]  # (n_seeds, n_methods), as scored for the comparisons
    status: list[list[str]]
    run_counts: tuple[RunCounts, ...]
    comparison: Comparison | None
    costs: tuple[MethodCost, ...]
    tuned_vs_lets: tuple[TunedVersusLets, ...]
    tuning: tuple[TuningSummary, ...]
    lets_trajectories: tuple[LetsTrajectory, ...]
    shift: tuple[ShiftSummary, ...]
    verdict: str
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    provenance: Provenance | None = None  # None only in an analysis built by hand (the figures' tests)
    decisions: StudyDecisions | None = None  # a study with sequential seeds: what it decided, and when
    spread: tuple[SpreadSummary, ...] = ()  # per comparison, from the per-example outcomes (when it has them)

    def to_dict(self) -> dict[str, Any]:
        out = _lists(asdict(replace(self, decisions=None)))
        del out["decisions"]  # a list of seeds has no such section, as before sequential studies existed
        if self.decisions is not None:
            out["decisions"] = self.decisions.to_dict()  # the content of decisions.json, in the same units
        return finite_or_none(out)

    def versus(self, method: str):
        if self.comparison is None:
            return None
        return next((v for v in self.comparison.versus_reference if v.method == method), None)

    def summary(self, method: str):
        if self.comparison is None:
            return None
        return next(s for s in self.comparison.summaries if s.method == method)


def _lists(value: Any) -> Any:
    """asdict keeps tuples; JSON (and finite_or_none) want lists."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
