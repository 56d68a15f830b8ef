"""What is left of a study, counted from its trials table."""

from __future__ import annotations

from pipeline.results.row import TrialRow
from pipeline.spec.study import parse_study
from pipeline.study.plan import eval_key, trials_left, tune_key
from tests.rows import make_row

SPEC = parse_study(
    {
        "name": "s",
        "data": {"name": "synthetic"},
        "model": {"name": "mlp"},
        "methods": [{"name": "sgd"}, {"name": "sam", "search": {"rho": {"low": 0.01, "high": 0.5}}}],
        "reference": "sam",
        "tuning": {"trials": 3, "repeats": 2},
        "evaluation": {"seeds": [0, 1]},
    }
)


def tune(search: int, index: int) -> TrialRow:
    return make_row(trial_key=tune_key("sam", search, index), phase="tune", method="sam", search=search)


def evaluation(method: str, seed: int) -> TrialRow:
    return make_row(trial_key=eval_key(method, seed), phase="eval", method=method, seed=seed)


def test_trials_left_counts_each_search_budget_and_each_method_seed_pair() -> None:
    assert trials_left(SPEC, []) == (6, 4)
    rows = [tune(0, 0), tune(0, 1), tune(1, 2), evaluation("sam", 1)]
    assert trials_left(SPEC, rows) == (3, 3)
    done = [tune(s, i) for s in (0, 1) for i in range(3)] + [evaluation(m, s) for m in ("sgd", "sam") for s in (0, 1)]
    assert trials_left(SPEC, done) == (0, 0)
