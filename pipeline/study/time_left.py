"""How long a study has left, from its trials' measured times.

Trials of one method take about the same time, and methods differ several-fold (XSAM and MP-SAM against SGD), so
the estimate is per method: each trial still to run is expected to take its method's mean measured time (a method
with none yet: the mean of all). That work is spread over the concurrency the study has actually reached: the
trial-seconds a phase has finished per second since its first trial started, once each slot has finished a trial of
it, which also counts Ray's per-trial overhead and idle slots (before that: the previous phase's measure, or the
slots). A rate of the phase alone (trials done per second, as ``tqdm`` gives) would swing with the order in which
fast and slow methods finish.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable


class TimeLeft:
    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._times: dict[str, list[float]] = defaultdict(list)
        self._pending: Counter[str] = Counter()
        self._later: Counter[str] = Counter()
        self._phase_trial_s = 0.0
        self._phase_finished = 0
        self._phase_first_start = math.inf  # when the phase's earliest finished trial started (clock seconds)
        self._concurrency = float(self.slots)  # the last measured; the slots until one is

    def measured(self, method: str, seconds: float | None, whole: bool = True) -> None:
        """A trial's measured time; ``whole`` False for one stopped early (ASHA), which says little of a trial."""
        if whole and seconds is not None and math.isfinite(seconds) and seconds >= 0:
            self._times[method].append(seconds)

    def begin(self, pending: Iterable[str], later: Iterable[str] = ()) -> None:
        """A phase starts with these trials (one method name each) and, after it, the ``later`` ones."""
        self._pending, self._later = Counter(pending), Counter(later)
        self._phase_trial_s = 0.0
        self._phase_finished = 0
        self._phase_first_start = math.inf

    def set_pending(self, pending: Iterable[str]) -> None:
        """The trials still to run now (work added by a new round of seeds included)."""
        self._pending = Counter(pending)

    def finished(self, method: str, seconds: float | None, at: float) -> None:
        """A trial of the phase finished at clock time ``at`` (seconds), after ``seconds`` of running."""
        if self._pending[method] > 0:
            self._pending[method] -= 1
        self._phase_finished += 1
        if seconds is not None and math.isfinite(seconds):
            self._phase_trial_s += seconds
            self._phase_first_start = min(self._phase_first_start, at - seconds)

    def estimate(self, at: float) -> tuple[float, float] | None:
        """Seconds left in this phase and in the whole study at clock time ``at``; None before any trial time is
        known. The phase's concurrency is measured from its first trial's start, not from the phase's: starting a
        Tune run takes seconds in which no trial runs."""
        every = [t for times in self._times.values() for t in times]
        if not every:
            return None
        fallback = sum(every) / len(every)

        def work(trials: Counter[str]) -> tuple[float, float]:
            means = [self._mean(m, fallback) for m, n in trials.items() for _ in range(n)]
            return sum(means), max(means, default=0.0)

        # Until every slot has finished a trial of the phase, the slots' staggered starts dominate the measure.
        running_s = at - self._phase_first_start
        if self._phase_finished >= self.slots and self._phase_trial_s > 0 and running_s > 0:
            self._concurrency = min(self.slots, max(self._phase_trial_s / running_s, 1e-3))
        phase_work, longest = work(self._pending)
        later_work, later_longest = work(self._later)
        phase = max(phase_work / self._concurrency, longest) if phase_work else 0.0
        later = max(later_work / self._concurrency, later_longest) if later_work else 0.0
        return phase, phase + later

    def _mean(self, method: str, fallback: float) -> float:
        times = self._times.get(method)
        return sum(times) / len(times) if times else fallback


def duration(seconds: float) -> str:
    """``~40 s``, ``~12 min``, ``~2 h 5 min``: as precise as an estimate deserves."""
    if seconds < 90:
        return f"~{max(5, round(seconds / 5) * 5):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"~{minutes} min"
    return f"~{minutes // 60} h {minutes % 60} min"
