"""What a study runs: one ``TrialPlan`` per trial, keyed so that a resumed study can tell what is done.

The plan itself is part of the trial contract (``pipeline.results.trial_contract``): it holds everything the
trial needs, its TrialConfig, where to log, and the provenance the trials table records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipeline.decisions import StudyDecisions, decide
from pipeline.results.folder import StudyFolder
from pipeline.results.row import Phase, TrialRow
from pipeline.results.study_results import rows_of
from pipeline.results.trial_contract import Tracking, TrialPlan
from pipeline.spec.study import MethodSpec, StudySpec


def tune_key(method: str, search: int, index: int) -> str:
    return f"tune/{method}/search{search}/trial{index}"


def eval_key(method: str, seed: int) -> str:
    return f"eval/{method}/seed{seed}"


def search_id(method: str, search: int) -> str:
    return f"{method}/search{search}"


def evaluation_needed(spec: StudySpec, decisions: StudyDecisions | None) -> list[tuple[MethodSpec, int]]:
    """(method, seed) of every evaluation trial needed now, lowest seed first, methods in the spec's order: every
    seed of a list; with sequential seeds (``decisions`` from the rows so far), the seeds of each method's next
    look, and the reference's as many as the most any open comparison needs."""
    seeds = spec.evaluation.seed_list
    counts = {m.name: len(seeds) if decisions is None else decisions.needed(m.name) for m in spec.methods}
    return [(m, seed) for i, seed in enumerate(seeds) for m in spec.methods if i < counts[m.name]]


def trials_left(spec: StudySpec, rows: list[TrialRow]) -> tuple[int, int]:
    """How many tuning and evaluation trials of ``spec`` the trials table ``rows`` does not hold yet (sequential
    seeds: those of the looks needed now)."""
    keys = {r.trial_key for r in rows}
    tuning = 0
    for method in spec.methods:
        if method.tuned:
            for search in range(spec.tuning.repeats):
                done = sum(1 for r in rows_of(rows, "tune", method.name) if r.search == search)
                tuning += max(0, spec.tuning.trials - done)
    decisions = decide(spec, rows) if spec.evaluation.sequential else None
    evaluation = sum(1 for m, seed in evaluation_needed(spec, decisions) if eval_key(m.name, seed) not in keys)
    return tuning, evaluation


def checkpoint_dir(study_dir: str, name: str) -> str:
    return str(StudyFolder(Path(study_dir)).checkpoints / name)


def make_plan(
    spec: StudySpec,
    method: MethodSpec,
    phase: Phase,
    seed: int,
    params: dict[str, Any],
    *,
    key: str,
    study_dir: str,
    tracking: Tracking | None,
    git_commit: str,
    search: int | None = None,
    trial_index: int | None = None,
    round: int | None = None,
) -> TrialPlan:
    config = spec.trial_config(method, seed, params)
    if spec.checkpoint:
        # The folder names the configuration too: a re-suggested tuning trial never meets a stale checkpoint.
        digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:10]
        config = config.model_copy(update={"checkpoint_dir": checkpoint_dir(study_dir, f"{key}-{digest}")})
    return TrialPlan(
        key=key,
        study=spec.name,
        phase=phase,
        method=method.name,
        optimizer=method.optimizer,
        seed=seed,
        config=config,
        params=dict(params),
        search=search,
        trial_index=trial_index,
        round=round,
        threads=spec.resources.threads,
        tracking=tracking,
        git_commit=git_commit,
        workers=spec.workers_per_trial,
        cpu_per_worker=spec.resources.cpu,
        gpu_per_worker=spec.resources.gpu,
        train_storage=str(StudyFolder(Path(study_dir)).train_runs),
        rules=spec.rules,
        outcomes_dir=str(StudyFolder(Path(study_dir)).outcomes) if phase == "eval" else None,
    )
