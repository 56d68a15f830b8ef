"""``StudyStream`` driven by hand, without Ray: what a study runs next, read from a real trials table.

A ``Harness`` plays Ray Tune's part: it asks the stream for trials until it answers WAIT or DONE, and records a
finished trial as the driver does (the searcher's ``tuning_finished``, then the row appended, then ``recorded``).
Scores are functions of the trial (its method and seed, or its searched ρ), so a stream rebuilt from the table
must hand out the very trials the first one would have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.decisions import MethodDecision, decide
from pipeline.results.folder import StudyFolder
from pipeline.results.selection import Selection
from pipeline.results.table import TrialsTable
from pipeline.spec.study import StudySpec, parse_study
from pipeline.study import phases
from pipeline.study.plan import TrialPlan, eval_key, trials_left
from pipeline.study.stream import DONE, WAIT, StudyStream
from tests.rows import make_row

STUDY_DIR = "/nonexistent/study"  # only named in the plans' checkpoint folders; the same for every harness
SEARCH = {"rho": {"low": 0.01, "high": 0.5, "log": True}}


def spec_of(methods: list[dict[str, Any]], evaluation: dict[str, Any], **more: Any) -> StudySpec:
    return parse_study(
        {
            "name": "s",
            "data": {"name": "synthetic"},
            "model": {"name": "mlp"},
            "methods": methods,
            "reference": "sam",
            "tuning": {"trials": 4, "startup_trials": 2, "parallel": 2},
            "evaluation": evaluation,
            **more,
        }
    )


# A list of seeds; SGD runs as written, SAM is tuned.
FIXED = spec_of([{"name": "sgd"}, {"name": "sam", "search": SEARCH}], {"seeds": [0, 1, 2]})

# Sequential seeds {start: 3, step: 2, max: 7}, δ = 0.01: with the scores below, fsam is better at the first look
# (3 seeds), sgd worse at the second (5), asam undecided at max (7).
ROUNDS = {"seeds": {"start": 3, "step": 2, "max": 7}, "margin": 0.01}
LOOKS = (3, 5, 7)
SEQUENTIAL_METHODS = [{"name": "sgd"}, {"name": "sam"}, {"name": "asam"}, {"name": "fsam"}]
SEQUENTIAL = spec_of(SEQUENTIAL_METHODS, ROUNDS)
# The same with SAM, the reference, tuned: every comparison waits for its evaluation.
SEQUENTIAL_TUNED = spec_of([{**m, "search": SEARCH} if m["name"] == "sam" else m for m in SEQUENTIAL_METHODS], ROUNDS)

SAM = (0.900, 0.905, 0.895, 0.902, 0.898, 0.901, 0.899)
DIFFERENCES = {  # method - sam on seeds 0, 1, ...: exactly as many as the method may need
    "fsam": (0.0200, 0.0205, 0.0198),
    "sgd": (-0.010, -0.012, -0.008, -0.011, -0.009),
    "asam": (0.010, -0.008, 0.012, -0.005, 0.009, -0.010, 0.011),
}


def test_accuracy(method: str, seed: int) -> float:
    """An IndexError for a seed the method should never have been given."""
    return SAM[seed] if method == "sam" else SAM[seed] + DIFFERENCES[method][seed]


test_accuracy.__test__ = False  # type: ignore[attr-defined]  # a score, not a test


def tuning_score(params: dict[str, Any]) -> float:
    """A tuning trial's validation accuracy: higher for a larger ρ, so the selection is the largest one tried."""
    return 0.5 + params["rho"]


def round_of(seed: int, looks: tuple[int, ...] = LOOKS) -> int:
    return next(k for k, n in enumerate(looks) if seed < n)


def content(plan: TrialPlan) -> tuple[Any, ...]:
    """What a plan runs: everything but where it logs."""
    return (plan.phase, plan.method, plan.seed, plan.params, plan.search, plan.trial_index, plan.round, plan.config)


@dataclass
class Harness:
    """A ``StudyStream`` over the trials table at ``path``, built as ``phases.run_trials`` builds it (the searches
    and plans by the driver's own ``_searches`` and ``_plan``), with Ray Tune's part played by hand."""

    spec: StudySpec
    path: Path
    failed: set[str] = field(default_factory=set)  # keys of trials that fail when they run
    running: list[TrialPlan] = field(default_factory=list)  # emitted, not recorded: in the order emitted
    emitted: list[TrialPlan] = field(default_factory=list)
    selections: list[dict[str, Selection]] = field(default_factory=list)
    decided: list[MethodDecision] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # method -> the wall time its trials record

    def __post_init__(self) -> None:
        self.table = TrialsTable(self.path)
        study = SimpleNamespace(
            spec=self.spec,
            table=self.table,
            where=SimpleNamespace(folder=StudyFolder(Path(STUDY_DIR))),
            plan_tracking=None,
            commit="test",
        )
        self.stream = StudyStream(
            self.spec,
            self.table,
            phases._searches(study),
            lambda method, seed, params, round_: phases._plan(
                study, method, "eval", seed, params, eval_key(method.name, seed), round=round_
            ),
            on_selected=self.selections.append,
            on_decided=self.decided.append,
        )

    def ask(self) -> list[TrialPlan]:
        """Every trial the stream hands out now, until it answers WAIT or DONE."""
        plans = []
        while isinstance(plan := self.stream.next_plan(), TrialPlan):
            self._take(plan)
            plans.append(plan)
        return plans

    def _take(self, plan: TrialPlan) -> None:
        """A trial handed out: new, and (an evaluation trial) marked with the round that first runs its seed."""
        assert plan.key not in {p.key for p in self.emitted}, f"{plan.key} handed out twice"
        assert plan.key not in self.table.keys(), f"{plan.key} is already recorded"
        if plan.phase == "eval":
            sequential = self.spec.evaluation.sequential
            assert plan.round == (round_of(plan.seed) if sequential else None), (plan.key, plan.round)
        self.emitted.append(plan)
        self.running.append(plan)

    def finish(self, key: str) -> None:
        """The trial ``key`` ends and is recorded, as Ray Tune's searcher and the driver's callback record it."""
        [plan] = [p for p in self.running if p.key == key]
        self.running.remove(plan)
        status = "failed" if key in self.failed else "ok"
        scores: dict[str, Any] = {}
        if status == "ok" and plan.phase == "tune":
            scores = {"val_accuracy": tuning_score(plan.params)}
        elif status == "ok":
            scores = {"val_accuracy": 0.5, "test_accuracy": test_accuracy(plan.method, plan.seed)}
        if plan.phase == "tune":
            assert plan.search is not None and plan.trial_index is not None
            value = scores.get("val_accuracy")
            self.stream.tuning_finished(plan, value)
        row = make_row(
            study=plan.study,
            trial_key=plan.key,
            phase=plan.phase,
            method=plan.method,
            seed=plan.seed,
            search=plan.search,
            trial_index=plan.trial_index,
            round=plan.round,
            status=status,
            error="boom" if status == "failed" else None,
            params_json=json.dumps(plan.params),
            config_json=json.dumps(plan.config.model_dump(mode="json")),
            wall_time_s=self.seconds.get(plan.method),
            **scores,
        )
        self.table.append(row)
        self.stream.recorded()

    def finish_all(self, plans: list[TrialPlan] | None = None) -> None:
        for plan in list(self.running if plans is None else plans):
            self.finish(plan.key)

    def run(self, slots: int = 2, stop_after: int | None = None) -> None:
        """Run the study as Tune would with ``slots`` trials at a time (the oldest running trial ends first), to
        its end or until ``stop_after`` trials were recorded by this harness."""
        recorded = 0
        while True:
            while len(self.running) < slots and isinstance(plan := self.stream.next_plan(), TrialPlan):
                self._take(plan)
            if not self.running:
                assert self.stream.next_plan() == DONE
                return
            if stop_after is not None and recorded == stop_after:
                return
            self.finish(self.running[0].key)
            recorded += 1


def keys(plans: list[TrialPlan]) -> list[str]:
    return [p.key for p in plans]


def evaluations(plans: list[TrialPlan]) -> list[tuple[str, int, int | None]]:
    return sorted((p.method, p.seed, p.round) for p in plans if p.phase == "eval")


# ------------------------------------------------------------------------------------------------ no barrier


def test_an_untuned_method_is_evaluated_while_a_search_is_still_open(tmp_path: Path) -> None:
    h = Harness(FIXED, tmp_path / "trials.parquet")
    first = h.ask()
    # The search's random start first (its longest chain), then SGD's seeds at once: no barrier after tuning.
    assert keys(first) == [
        "tune/sam/search0/trial0",
        "tune/sam/search0/trial1",
        "eval/sgd/seed0",
        "eval/sgd/seed1",
        "eval/sgd/seed2",
    ]
    assert all(p.round is None and p.params == {} for p in first if p.phase == "eval")
    assert [list(s) for s in h.selections] == [["sgd"]] and h.selections[0]["sgd"].source == "fixed"
    assert h.stream.next_plan() == WAIT


def test_a_tuned_method_is_evaluated_only_once_every_tuning_trial_is_recorded(tmp_path: Path) -> None:
    h = Harness(FIXED, tmp_path / "trials.parquet")
    h.ask()
    h.finish("eval/sgd/seed1")
    h.finish("tune/sam/search0/trial0")
    assert h.ask() == [], "trial 2 is suggested only once the whole random start (trials 0 and 1) is in"
    h.finish("tune/sam/search0/trial1")
    assert keys(h.ask()) == ["tune/sam/search0/trial2", "tune/sam/search0/trial3"]  # one batch of 2
    h.finish("tune/sam/search0/trial3")
    h.finish("eval/sgd/seed0")
    assert h.ask() == [] and h.stream.next_plan() == WAIT, "SAM's selection waits for trial 2"
    assert "sam" not in h.stream.selections
    h.finish("tune/sam/search0/trial2")
    sam = h.ask()
    assert keys(sam) == ["eval/sam/seed0", "eval/sam/seed1", "eval/sam/seed2"]
    # The selection is the best tuning trial (here, the largest ρ), and every evaluation run uses it.
    tuned = [p for p in h.emitted if p.phase == "tune"]
    best = max(tuned, key=lambda p: tuning_score(p.params))
    assert all(p.params == best.params and p.config.hparams["rho"] == best.params["rho"] for p in sam)
    assert h.selections[-1]["sam"].source == "tuned" and h.selections[-1]["sam"].trial_key == best.key
    assert h.stream.next_plan() == WAIT
    h.finish_all()
    assert h.stream.next_plan() == DONE
    assert trials_left(FIXED, h.table.rows()) == (0, 0) and h.stream.left() == []
    assert h.decided == [] and h.stream.decisions() is None


def test_the_stream_waits_while_emitted_trials_are_unrecorded_and_is_done_when_nothing_is_left(
    tmp_path: Path,
) -> None:
    h = Harness(FIXED, tmp_path / "trials.parquet")
    h.run(slots=3)
    assert h.stream.next_plan() == DONE and h.stream.next_plan() == DONE  # and stays so
    assert sorted(h.table.keys()) == sorted(keys(h.emitted))
    assert len(h.table) == 4 + 2 * 3
    # A stream over the finished table hands out nothing more.
    again = Harness(FIXED, tmp_path / "trials.parquet")
    assert again.stream.next_plan() == DONE


# ------------------------------------------------------------------------------------------------ sequential


def test_sequential_rounds_go_only_to_the_comparisons_still_open_and_the_reference_follows_them(
    tmp_path: Path,
) -> None:
    h = Harness(SEQUENTIAL, tmp_path / "trials.parquet")
    round0 = h.ask()
    # Round 0: every method its first 3 seeds; the reference's first (every look waits for them), then seed by
    # seed in the spec's order (no trial time is known yet to put the slowest method first).
    assert [(p.method, p.seed, p.round) for p in round0] == [("sam", s, 0) for s in range(3)] + [
        (m, s, 0) for s in range(3) for m in ("sgd", "asam", "fsam")
    ]
    assert h.stream.next_plan() == WAIT
    h.finish_all([p for p in round0 if p.key != "eval/sam/seed2"])
    assert h.ask() == [] and h.decided == [], "no look before the reference's last run of the round is in"
    h.finish_all()
    assert [(d.method, d.decision, d.decided_at) for d in h.decided] == [("fsam", "better", 3)]

    round1 = h.ask()
    # fsam is decided: no more seeds for it; sgd and asam get the next step (2 seeds), and so does the reference.
    assert evaluations(round1) == [(m, s, 1) for m in ("asam", "sam", "sgd") for s in (3, 4)]
    assert sorted(h.stream.evaluation_left()) == ["asam"] * 2 + ["sam"] * 2 + ["sgd"] * 2
    assert trials_left(SEQUENTIAL, h.table.rows()) == (0, 6)
    h.finish_all()
    assert [(d.method, d.decision, d.decided_at) for d in h.decided][1:] == [("sgd", "worse", 5)]

    round2 = h.ask()
    assert evaluations(round2) == [(m, s, 2) for m in ("asam", "sam") for s in (5, 6)]
    h.finish_all()
    assert [(d.method, d.decision, d.closed) for d in h.decided][2:] == [("asam", "undecided", True)]
    assert h.stream.next_plan() == DONE
    assert trials_left(SEQUENTIAL, h.table.rows()) == (0, 0)
    decisions = decide(SEQUENTIAL, h.table.rows())
    assert decisions.finished and decisions.spent_trials == 12 + 6 + 4 < decisions.fixed_trials == 28
    # The table says which round first ran each seed.
    assert all(r.round == round_of(r.seed) for r in h.table.rows())


def test_in_a_round_the_reference_goes_first_then_the_slowest_method(tmp_path: Path) -> None:
    # The order only decides which trials are left for the end, when other slots idle: short ones, ideally.
    h = Harness(SEQUENTIAL, tmp_path / "trials.parquet", seconds={"sgd": 1.0, "sam": 4.0, "asam": 9.0, "fsam": 2.0})
    h.finish_all(h.ask())
    round1 = h.ask()
    assert [(p.method, p.seed) for p in round1] == [
        ("sam", 3),
        ("sam", 4),
        ("asam", 3),
        ("asam", 4),
        ("sgd", 3),
        ("sgd", 4),
    ]


def test_each_comparison_looks_as_soon_as_its_own_round_is_in(tmp_path: Path) -> None:
    # fsam's last run of round 0 is still out: sgd's and asam's looks are made without it, and their next seeds
    # (with the reference's) go out at once; fsam's look waits for its run.
    h = Harness(SEQUENTIAL, tmp_path / "trials.parquet")
    round0 = h.ask()
    h.finish_all([p for p in round0 if p.key != "eval/fsam/seed2"])
    assert evaluations(h.ask()) == [(m, s, 1) for m in ("asam", "sam", "sgd") for s in (3, 4)]
    assert h.decided == []
    h.finish("eval/fsam/seed2")
    assert [(d.method, d.decision) for d in h.decided] == [("fsam", "better")]
    assert h.ask() == [], "fsam is closed, and its round-0 look asks nothing of the reference beyond seed 4"


def test_once_every_comparison_is_closed_the_reference_gets_no_more_seeds(tmp_path: Path) -> None:
    # Without asam, the comparisons close at 3 (fsam) and 5 seeds (sgd): the reference stops at 5, not at max.
    spec = spec_of([m for m in SEQUENTIAL_METHODS if m["name"] != "asam"], ROUNDS)
    h = Harness(spec, tmp_path / "trials.parquet")
    h.run(slots=4)
    assert sorted(r.seed for r in h.table.rows() if r.method == "sam") == [0, 1, 2, 3, 4]
    assert sorted(r.seed for r in h.table.rows() if r.method == "sgd") == [0, 1, 2, 3, 4]
    assert sorted(r.seed for r in h.table.rows() if r.method == "fsam") == [0, 1, 2]


REFERENCE_FAILED = "the reference's run on seed 2 failed"


@pytest.mark.parametrize(
    ("failed", "stopped", "next_round"),
    [
        # sgd's run on seed 1 fails: its comparison ends there; fsam is decided; asam goes on with the reference.
        ("eval/sgd/seed1", {"sgd": "its run on seed 1 failed", "fsam": None}, ["asam", "sam"]),
        # The reference's run on seed 2 fails: no comparison can make even its first look.
        ("eval/sam/seed2", {"sgd": REFERENCE_FAILED, "asam": REFERENCE_FAILED, "fsam": REFERENCE_FAILED}, []),
    ],
    ids=["method-run-failed", "reference-run-failed"],
)
def test_a_failed_evaluation_run_stops_its_comparison(
    tmp_path: Path, failed: str, stopped: dict[str, str | None], next_round: list[str]
) -> None:
    h = Harness(SEQUENTIAL, tmp_path / "trials.parquet", failed={failed})
    h.ask()
    h.finish_all()
    assert {d.method: d.stopped for d in h.decided} == stopped
    assert all(d.closed for d in h.decided)
    assert sorted({p.method for p in h.ask()}) == next_round
    if not next_round:
        assert h.stream.next_plan() == DONE
        return
    h.run()
    assert not any(r.method == "sgd" and r.seed > 2 for r in h.table.rows()), "no more seeds after the failure"
    assert [(d.method, d.decision) for d in h.decided] == [
        ("sgd", "undecided"),
        ("fsam", "better"),
        ("asam", "undecided"),
    ]


def test_a_tuned_reference_holds_back_only_the_looks_not_the_other_methods_first_round(tmp_path: Path) -> None:
    h = Harness(SEQUENTIAL_TUNED, tmp_path / "trials.parquet")
    first = h.ask()
    assert keys(first)[:2] == ["tune/sam/search0/trial0", "tune/sam/search0/trial1"]
    assert evaluations(first) == [(m, s, 0) for m in ("asam", "fsam", "sgd") for s in range(3)]
    h.finish_all([p for p in first if p.phase == "eval"])
    assert h.ask() == [] and h.decided == [], "no look without the reference's runs, and no second round"
    h.run()
    assert [(d.method, d.decision) for d in h.decided] == [("fsam", "better"), ("sgd", "worse"), ("asam", "undecided")]
    assert len([r for r in h.table.rows() if r.phase == "eval"]) == 22


# ------------------------------------------------------------------------------------------------ resume


def finished_study(spec: StudySpec, path: Path, slots: int = 2) -> dict[str, tuple[Any, ...]]:
    h = Harness(spec, path)
    h.run(slots=slots)
    return {p.key: content(p) for p in h.emitted}


@pytest.mark.parametrize("spec", [FIXED, SEQUENTIAL_TUNED], ids=["fixed", "sequential"])
def test_a_stream_rebuilt_from_the_table_hands_out_what_the_original_would(tmp_path: Path, spec: StudySpec) -> None:
    uninterrupted = finished_study(spec, tmp_path / "uninterrupted.parquet")
    assert len(uninterrupted) == (10 if spec is FIXED else 4 + 22)
    rounds_in_flight = set()
    for stop_after in range(1, len(uninterrupted), 3):  # every third trial: through tuning and every round
        path = tmp_path / f"killed-{stop_after}.parquet"
        original = Harness(spec, path)
        original.run(slots=2, stop_after=stop_after)
        if not original.running:
            continue
        in_flight = list(original.running)
        rounds_in_flight |= {p.round for p in in_flight}
        # The process dies with trials in flight; a new one reads the table back from disk.
        resumed = Harness(spec, path)
        first = resumed.ask()
        would = in_flight + original.ask()
        assert {p.key: content(p) for p in first} == {p.key: content(p) for p in would}, stop_after
        assert [d.method for d in resumed.decided] == [], "a resumed stream does not announce old decisions again"
        resumed.run(slots=2)
        # Every trial once, each as the uninterrupted study ran it.
        done = {p.key: content(p) for p in original.emitted if p.key in original.table.keys()}
        done |= {p.key: content(p) for p in resumed.emitted}
        assert done == uninterrupted, stop_after
        assert sorted(TrialsTable(path).keys()) == sorted(uninterrupted)
        if spec.evaluation.sequential:
            rows = TrialsTable(path).rows()
            reference = TrialsTable(tmp_path / "uninterrupted.parquet").rows()
            assert decide(spec, rows).to_dict() == decide(spec, reference).to_dict()
    if spec.evaluation.sequential:
        assert rounds_in_flight >= {0, 1, 2}, "killed in every round"


def test_the_first_look_is_not_made_on_a_partial_round_even_after_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    h = Harness(SEQUENTIAL, path)
    round0 = h.ask()
    h.finish_all(round0[:5])
    resumed = Harness(SEQUENTIAL, path)
    assert sorted(keys(resumed.ask())) == sorted(keys(round0[5:]))
    assert resumed.stream.next_plan() == WAIT
    assert resumed.decided == [], "nothing is announced"
