"""What the decision engine returns: per method, the statistics' own ``SequentialComparison`` and why it closed.

``StudyDecisions.to_dict`` is ``decisions.json`` (and the ``rounds`` section of the nightly's ``regression.json``):
the record's one serialised form, kept beside it so the file and the record cannot drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.stats.sequential import UNDECIDED, Look, SequentialComparison

PROCEDURE = (
    "repeated paired t intervals, α split by a union bound over the methods and the planned looks (Bonferroni), "
    "with two one-sided tests against ±δ for equivalence"
)
UNDECIDED_MEANING = (
    "undecided: after the seeds it was given, the interval still contains 0 and reaches beyond ±δ; neither a "
    "difference nor equivalence is shown"
)


@dataclass(frozen=True)
class MethodDecision:
    """One method against what it is compared with. ``comparison`` is the statistics' record: its looks so far
    (seeds ``seeds[:look.n]``) and the seeds the next look needs (None: closed), already closed where the
    comparison ``stopped`` for good (a run that failed, saying which). ``fixed_design``: for a comparison undecided
    at the end, the seeds a one-look design would need for the observed effect, to show a difference and to show
    equivalence."""

    method: str
    comparison: SequentialComparison
    seeds_spent: int
    stopped: str | None = None
    fixed_design: tuple[int | None, int | None] | None = None

    @property
    def looks(self) -> tuple[Look, ...]:
        return self.comparison.looks

    @property
    def next_n(self) -> int | None:
        return self.comparison.next_n

    @property
    def decision(self) -> str:
        return self.comparison.decision

    @property
    def closed(self) -> bool:
        return self.comparison.closed

    @property
    def decided_at(self) -> int | None:
        """The seeds at the look that decided it (None while undecided)."""
        return self.looks[-1].n if self.looks and self.decision != UNDECIDED else None


@dataclass(frozen=True)
class StudyDecisions:
    reference: str
    metric: str
    alpha: float
    margin: float
    looks: tuple[int, ...]  # the planned seeds at each look
    seeds: tuple[int, ...]  # the seed of each position: 0..max-1
    methods: tuple[MethodDecision, ...]  # the reference aside, in the spec's order
    reference_spent: int

    @property
    def finished(self) -> bool:
        return all(m.closed for m in self.methods)

    def needed(self, method: str) -> int:
        """How many seeds (the first n of ``seeds``) ``method`` must have run for its next look; for the reference,
        the most any open comparison needs."""
        if method == self.reference:
            return max((m.next_n for m in self.methods if m.next_n is not None), default=0)
        for m in self.methods:
            if m.method == method:
                return m.next_n or 0
        raise KeyError(method)

    def round_of(self, seed: int) -> int:
        """The round (0-based) in which ``seed`` is first run: the look whose seeds first include it."""
        position = self.seeds.index(seed)
        return next(k for k, n in enumerate(self.looks) if position < n)

    @property
    def fixed_trials(self) -> int:
        """Evaluation trials a fixed design of ``max`` seeds would run."""
        return (len(self.methods) + 1) * self.looks[-1]

    @property
    def spent_trials(self) -> int:
        return self.reference_spent + sum(m.seeds_spent for m in self.methods)

    def to_dict(self) -> dict[str, Any]:
        """``decisions.json``: per method and look, the seeds used, the estimate, the intervals and the decision."""
        return {
            "procedure": PROCEDURE,
            "reference": self.reference,
            "metric": self.metric,
            "alpha": self.alpha,
            "margin": self.margin,
            "looks": list(self.looks),
            "trials": {"spent": self.spent_trials, "fixed_design_max": self.fixed_trials},
            "reference_seeds_spent": self.reference_spent,
            "methods": {m.method: _method_dict(m, self.seeds) for m in self.methods},
        }


def _method_dict(m: MethodDecision, seeds: tuple[int, ...]) -> dict[str, Any]:
    fixed = None
    if m.fixed_design is not None:
        fixed = {"difference": m.fixed_design[0], "equivalence": m.fixed_design[1]}
    return {
        "decision": m.decision,
        "decided_at_seeds": m.decided_at,
        "seeds_spent": m.seeds_spent,
        "closed": m.closed,
        "stopped": m.stopped,
        "fixed_design_seeds": fixed,
        "rounds": [{"round": k, "seeds": list(seeds[: look.n]), **_look_dict(look)} for k, look in enumerate(m.looks)],
    }


def _look_dict(look: Look) -> dict[str, Any]:
    """A look as decisions.json holds it; the futility fields only where futility was computed, so a study
    without futility stopping writes what it wrote before they existed."""
    values = asdict(look)
    if values["decidable"] is None:
        del values["decidable"], values["futile"]
    return values
