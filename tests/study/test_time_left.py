"""The time left printed with each finished trial: per method, spread over the concurrency reached."""

from __future__ import annotations

import pytest

from pipeline.study.time_left import TimeLeft, duration


def test_no_estimate_before_any_trial_time() -> None:
    left = TimeLeft(slots=2)
    left.begin(["sam"] * 4)
    assert left.estimate(10.0) is None


def test_each_method_is_expected_to_take_its_own_mean() -> None:
    left = TimeLeft(slots=1)
    left.begin(["sgd", "sgd", "xsam", "xsam", "xsam"])
    for method, seconds, at in (("sgd", 10.0, 10.0), ("xsam", 50.0, 60.0)):
        left.measured(method, seconds)
        left.finished(method, seconds, at)
    # 1 sgd (10 s) and 2 xsam (50 s each) to go, one at a time: the phase ran 60 trial-s in 60 s.
    phase, study = left.estimate(60.0)
    assert phase == pytest.approx(110.0)
    assert study == pytest.approx(phase)


def test_work_is_spread_over_the_concurrency_reached_and_later_phases_count() -> None:
    left = TimeLeft(slots=4)
    left.begin(["sam"] * 10, later=["sam"] * 8)
    for at in (20.0, 20.0, 40.0, 40.0):
        left.measured("sam", 20.0)
        left.finished("sam", 20.0, at)
    # 80 trial-s in 40 s: two at a time reached, although four slots exist.
    phase, study = left.estimate(40.0)
    assert phase == pytest.approx(6 * 20 / 2)
    assert study == pytest.approx(phase + 8 * 20 / 2)


def test_a_method_not_yet_measured_takes_the_mean_of_all() -> None:
    left = TimeLeft(slots=1)
    left.measured("sam", 10.0)
    left.measured("fsam", 30.0)
    left.begin(["mpsam"])
    phase, _ = left.estimate(1.0)
    assert phase == pytest.approx(20.0)


def test_trials_stopped_early_do_not_shrink_their_methods_time() -> None:
    left = TimeLeft(slots=1)
    left.measured("sam", 40.0)
    left.measured("sam", 2.0, whole=False)  # ASHA stopped it after an epoch
    left.begin(["sam"])
    assert left.estimate(1.0)[0] == pytest.approx(40.0)


def test_the_estimate_shrinks_as_trials_finish() -> None:
    left = TimeLeft(slots=2)
    left.begin(["sam"] * 6)
    estimates = []
    for n in range(1, 6):  # two slots busy throughout: trials end in pairs, every 10 s
        at = 10.0 * ((n + 1) // 2)
        left.measured("sam", 10.0)
        left.finished("sam", 10.0, at)
        estimates.append(left.estimate(at)[0])
    assert estimates == sorted(estimates, reverse=True) and estimates[-1] > 0


def test_the_start_of_a_phase_before_its_first_trial_does_not_count() -> None:
    """Starting a Tune run takes seconds in which no trial runs: the concurrency is measured from the first
    trial's start, so two slots busy from then on read as two at a time."""
    left = TimeLeft(slots=2)
    left.begin(["sam"] * 6)
    for _ in range(2):  # both start at 30 s (after 30 s of start-up), both end at 40 s
        left.measured("sam", 10.0)
        left.finished("sam", 10.0, 40.0)
    assert left.estimate(40.0)[0] == pytest.approx(4 * 10 / 2)  # not 4 * 10 / (20 / 40)


def test_a_new_phase_keeps_the_last_measure_until_every_slot_has_finished_a_trial() -> None:
    """A phase's first trials start one after another: alone they would make the study look slower than it is."""
    left = TimeLeft(slots=2)
    left.begin(["sam"] * 4)
    for _ in range(2):
        left.measured("sam", 10.0)
        left.finished("sam", 10.0, 10.0)
    assert left.estimate(10.0)[0] == pytest.approx(2 * 10 / 2)  # two at a time, measured
    left.begin(["sam"] * 4)
    left.measured("sam", 10.0)
    left.finished("sam", 10.0, 100.0)
    assert left.estimate(130.0)[0] == pytest.approx(3 * 10 / 2)  # not 3 * 10 / (10 / 40)


@pytest.mark.parametrize(("seconds", "text"), [(3, "~5 s"), (42, "~40 s"), (600, "~10 min"), (7500, "~2 h 5 min")])
def test_durations_read_as_estimates(seconds: float, text: str) -> None:
    assert duration(seconds) == text
