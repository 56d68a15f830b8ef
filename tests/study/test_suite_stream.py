"""``SuiteStream`` driven by hand, without Ray: a suite's tasks share the slots of one Tune run.

Each task is a ``Harness`` of ``test_stream`` (a real trials table, the driver's own searches and plans); the suite
stream hands out their trials, and each is recorded in its own task's table as the driver's callback records it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.study.plan import TrialPlan
from pipeline.study.stream import DONE, WAIT
from pipeline.study.suite_stream import SuiteStream
from tests.study.test_stream import FIXED, SEQUENTIAL_TUNED, Harness, content


def harnesses(tmp_path: Path) -> dict[str, Harness]:
    """Two tasks: a sequential study whose reference is tuned, and a fixed-list study, named a and b."""
    return {
        "a": Harness(SEQUENTIAL_TUNED.model_copy(update={"name": "a"}), tmp_path / "a.parquet"),
        "b": Harness(FIXED.model_copy(update={"name": "b"}), tmp_path / "b.parquet"),
    }


def run_suite(tasks: dict[str, Harness], slots: int) -> list[TrialPlan]:
    """Run every task through one ``SuiteStream`` with ``slots`` trials at a time, the oldest ending first."""
    suite = SuiteStream([h.stream for h in tasks.values()])
    running: list[TrialPlan] = []
    order: list[TrialPlan] = []
    while True:
        while len(running) < slots and isinstance(plan := suite.next_plan(), TrialPlan):
            tasks[plan.study]._take(plan)
            running.append(plan)
            order.append(plan)
        if not running:
            assert suite.next_plan() == DONE
            return order
        plan = running.pop(0)
        tasks[plan.study].finish(plan.key)


def test_every_tasks_ready_tuning_trials_go_before_any_evaluation_trial(tmp_path: Path) -> None:
    tasks = harnesses(tmp_path)
    suite = SuiteStream([h.stream for h in tasks.values()])
    first = []
    while isinstance(plan := suite.next_plan(), TrialPlan):
        tasks[plan.study]._take(plan)
        first.append(plan)
    # Each search's first batch (2 trials) of both tasks, then the evaluation trials that need no search.
    phases = [(p.study, p.phase) for p in first]
    assert phases[:4] == [("a", "tune"), ("a", "tune"), ("b", "tune"), ("b", "tune")]
    assert {p.phase for p in first[4:]} == {"eval"}
    assert {p.method for p in first[4:]} == {"sgd", "asam", "fsam"}  # task a's methods without a search
    assert suite.next_plan() == WAIT  # the searches' next batches wait for these trials


def test_a_suite_runs_exactly_the_trials_each_task_runs_alone(tmp_path: Path) -> None:
    alone = {}
    for name, harness in harnesses(tmp_path / "alone").items():
        harness.path.parent.mkdir(parents=True, exist_ok=True)
        harness.run(slots=2)
        alone[name] = {p.key: content(p) for p in harness.emitted}
    (tmp_path / "suite").mkdir()
    tasks = harnesses(tmp_path / "suite")
    order = run_suite(tasks, slots=3)
    for name, harness in tasks.items():
        assert {p.key: content(p) for p in harness.emitted} == alone[name]
        assert len(harness.table.keys()) == len(harness.emitted)  # every trial recorded once, in its own table
    assert len(order) == sum(len(v) for v in alone.values())


def test_a_suite_cut_short_resumes_from_its_tables_to_the_same_trials(tmp_path: Path) -> None:
    (tmp_path / "whole").mkdir()
    whole = harnesses(tmp_path / "whole")
    run_suite(whole, slots=2)
    (tmp_path / "cut").mkdir()
    first = harnesses(tmp_path / "cut")
    suite = SuiteStream([h.stream for h in first.values()])
    running: list[TrialPlan] = []
    for _ in range(7):  # seven trials recorded, two more running when the driver dies
        while len(running) < 2 and isinstance(plan := suite.next_plan(), TrialPlan):
            first[plan.study]._take(plan)
            running.append(plan)
        plan = running.pop(0)
        first[plan.study].finish(plan.key)
    resumed = harnesses(tmp_path / "cut")  # new streams over the same tables, as a rerun builds them
    run_suite(resumed, slots=2)
    for name in whole:
        rows = {r.trial_key: r for r in whole[name].table.rows()}
        again = {r.trial_key: r for r in resumed[name].table.rows()}
        assert again.keys() == rows.keys()
        assert {k: (r.phase, r.method, r.seed, r.round, r.params_json) for k, r in again.items()} == {
            k: (r.phase, r.method, r.seed, r.round, r.params_json) for k, r in rows.items()
        }
