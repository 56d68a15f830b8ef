"""The nightly's part of the orchestration: which study it can run, and what decides its rounds of seeds.

``check_nightly_spec`` refuses a study the nightly cannot decide on; ``baseline_rounds`` tells the driver, from the
night's rows, which seeds each method needs next. The verdict is ``pipeline.decisions.nightly``'s, its files
``report/nightly.py``'s; ``pipeline.cli.nightly`` composes them with the run.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.decisions import StudyDecisions, decide
from pipeline.results.row import TrialRow
from pipeline.spec.study import StudySpec, StudySpecError


def check_nightly_spec(spec: StudySpec, source: str) -> None:
    """A nightly runs fixed configurations and needs its margin: say which field is wrong before anything runs."""
    if spec.regression is None:
        raise StudySpecError(
            f"{source}: regression: missing; a nightly study needs `regression: {{margin: 0.01}}` (the accuracy "
            "a method may lose before it counts as a regression), optionally metric and alpha"
        )
    tuned = [m.name for m in spec.methods if m.tuned]
    if tuned:
        raise StudySpecError(
            f"{source}: methods[{tuned[0]}].search: a nightly study runs fixed configurations; remove the search "
            "and write the value into hparams (the tuned value of a study, say)"
        )


def baseline_rounds(
    spec: StudySpec, baseline: list[TrialRow] | None
) -> Callable[[list[TrialRow]], StudyDecisions | None]:
    """What a nightly with sequential seeds runs next, from the night's rows: each method's next look against its
    own baseline (``decide(..., baseline=...)``). Without a baseline (the first night) every seed runs: a full
    baseline."""
    if baseline is None:
        return lambda rows: None
    return lambda rows: decide(spec, rows, baseline=baseline)
