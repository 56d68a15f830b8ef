"""The nightly with sequential seeds: each method against its own baseline, paired by seed, round after round; a night
stops early once every method is shown not worse than its baseline by more than δ, and keeps the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.exit_codes import NIGHTLY_EXIT, ExitCode
from pipeline.decisions import NON_INFERIOR, REGRESSED, decide
from pipeline.decisions.nightly import decide_night
from pipeline.spec.study import parse_study
from pipeline.stats.sequential import Schedule, sequential_decisions
from tests.rows import make_row
from tests.study import test_nightly_e2e as e2e
from tests.study.study_files import run_to_end

MARGIN = 0.02
SPEC = parse_study(
    {
        "name": "n",
        "data": {"name": "synthetic"},
        "model": {"name": "mlp", "hidden": [8]},
        "methods": [{"name": "sgd"}, {"name": "sam", "hparams": {"rho": 0.05}}, {"name": "asam"}],
        "reference": "sam",
        "evaluation": {"seeds": {"start": 3, "step": 2, "max": 7}},
        "regression": {"margin": MARGIN},
    }
)
BASE = 0.9 + 0.01 * np.sin(np.arange(7))  # the baseline's accuracy on seeds 0..6, every method alike


def rows(changes: dict[str, list[float]]) -> list:
    """Evaluation rows: each method's baseline accuracy plus its change, on as many seeds as changes are given."""
    return [
        make_row(study="n", method=m, seed=s, test_accuracy=float(BASE[s] + c), status="ok")
        for m, cs in changes.items()
        for s, c in enumerate(cs)
    ]


BASELINE = rows({m: [0.0] * 7 for m in ("sgd", "sam", "asam")})


def test_an_unchanged_method_passes_at_the_first_look_and_a_much_worse_one_regresses() -> None:
    noisy = [-0.01, 0.02, -0.03]  # neither: its interval reaches below -δ and above it
    current = rows({"sgd": [0.0] * 3, "sam": [-0.2, -0.21, -0.19], "asam": noisy})
    rounds = decide(SPEC, current, baseline=BASELINE)
    by = {m.method: m for m in rounds.methods}
    assert by["sgd"].decision == NON_INFERIOR and by["sgd"].closed and by["sgd"].decided_at == 3
    assert by["sam"].decision == REGRESSED and by["sam"].looks[-1].estimate == pytest.approx(-0.2)
    assert by["asam"].decision == "undecided" and by["asam"].next_n == 5
    assert rounds.needed("asam") == 5 and rounds.needed("sgd") == 0
    # The looks are the changes themselves, the decisions those of sequential_decisions on change + δ.
    shifted = np.array([noisy]).T + MARGIN
    [direct] = sequential_decisions(shifted, Schedule(3, 2, 7), alpha=0.05, n_family=3)
    look = by["asam"].looks[-1]
    assert look.ci_low == pytest.approx(direct.looks[-1].ci_low - MARGIN)
    assert look.ci_high == pytest.approx(direct.looks[-1].ci_high - MARGIN)


def test_the_verdict_is_regression_only_for_a_method_shown_worse_by_more_than_the_margin() -> None:
    current = rows({"sgd": [0.0] * 3, "sam": [0.0] * 3, "asam": [-0.2, -0.21, -0.19]})
    decision = decide_night(SPEC, current, BASELINE)
    assert decision.verdict == "regression" and decision.regressed == ["asam"]
    assert NIGHTLY_EXIT[decision.verdict] == ExitCode.REGRESSION
    # Seeds no look needed are not missing runs.
    assert decision.problems == [] and decision.counts["sgd"] == {"ok": 3, "diverged": 0, "failed": 0, "missing": 0}
    passed = decide_night(SPEC, rows({m: [0.0] * 3 for m in ("sgd", "sam", "asam")}), BASELINE)
    assert passed.verdict == "pass" and NIGHTLY_EXIT[passed.verdict] == ExitCode.OK and passed.tests == []
    assert {m.method: m.decision for m in passed.rounds.methods} == dict.fromkeys(("sgd", "sam", "asam"), NON_INFERIOR)


def test_a_seed_the_baseline_lacks_ends_that_comparison_and_a_new_method_runs_every_seed() -> None:
    short = [r for r in BASELINE if not (r.method == "sgd" and r.seed >= 3)]
    short = [r for r in short if r.method != "asam"]
    noisy = [-0.01, 0.02, -0.03]
    rounds = decide(SPEC, rows({"sgd": noisy, "sam": [0.0] * 3, "asam": [0.0] * 3}), baseline=short)
    by = {m.method: m for m in rounds.methods}
    assert by["sgd"].closed and by["sgd"].decision == "undecided"
    assert by["sgd"].stopped == "the baseline has no score on seed 3 (missing)"
    assert by["asam"].next_n == 7 and not by["asam"].looks  # no baseline at all: a full run for the next one


# The end-to-end nightly study, with rounds of seeds instead of its list.
NIGHTLY = e2e.NIGHTLY.replace("tinynightly", "seqnightly").replace(
    "evaluation: {{seeds: [0, 1, 2, 3]}}", "evaluation: {{seeds: {{start: 2, step: 2, max: 6}}}}"
)
assert "start: 2" in NIGHTLY


def night(study: Path, out: Path, *extra: str) -> tuple[int, str, dict, int]:
    before = set((out / "seqnightly").iterdir()) if (out / "seqnightly").exists() else set()
    done = run_to_end("nightly", str(study), "--out", str(out), *extra, timeout=400)
    [folder] = sorted(set((out / "seqnightly").iterdir()) - before)
    decision = json.loads((folder / "regression.json").read_text())
    trials = len(pd.read_parquet(folder / "trials.parquet"))
    return done.returncode, done.stdout + done.stderr, decision, trials


@pytest.mark.slow
def test_a_sequential_nightly_stops_early_when_nothing_changed_and_flags_a_regression(tmp_path: Path) -> None:
    out = tmp_path / "out"
    study = tmp_path / "nightly.yaml"
    study.write_text(NIGHTLY.format(sam_lr=""))

    rc, log, first, trials = night(study, out, "--accept")
    assert rc == 0, log
    assert first["verdict"] == "no-baseline" and trials == 2 * 6  # no baseline: every seed, a full one

    rc, log, same, trials = night(study, out)
    assert rc == 0, log
    assert same["verdict"] == "pass" and trials == 2 * 2  # every run reproduced: shown at the first look
    assert {m: v["decision"] for m, v in same["rounds"]["methods"].items()} == {
        "sgd": NON_INFERIOR,
        "sam": NON_INFERIOR,
    }
    assert "sgd against its baseline: non-inferior after 2 seeds" in log
    assert same["determinism"]["checked"] == 4 and same["determinism"]["mismatches"] == []

    worse = tmp_path / "worse.yaml"
    worse.write_text(NIGHTLY.format(sam_lr="    lr: 0.0001\n"))
    rc, log, bad, trials = night(worse, out)
    assert rc == ExitCode.REGRESSION, log
    assert bad["verdict"] == "regression" and bad["regressed"] == ["sam"]
    assert bad["rounds"]["methods"]["sam"]["decision"] == REGRESSED
    assert "REGRESSION" in log
