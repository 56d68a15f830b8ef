"""The report's Method section: what was trained and with which seeds, how the tests decided, and the code,
versions and machines the trials ran with (``StudyAnalysis.provenance``)."""

from __future__ import annotations

from pipeline.decisions import PROCEDURE
from pipeline.formatting import cell
from pipeline.report.stats_record import Provenance, StudyAnalysis
from pipeline.report.verdict import CORRECTION_NAMES, TEST_NAMES


def method_section(a: StudyAnalysis) -> list[str]:
    """``## Method``, then the notes, then where every number is."""
    out = ["## Method", ""]
    p = a.provenance  # None only in an analysis built by hand, which has no design to describe
    out += _design_bullets(a, p) if p is not None else []
    out += _sequential_bullets(a)
    out += _statistics_bullets(a)
    out += _provenance_bullets(p) if p is not None else []
    out.append("")
    if a.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in a.notes] + [""]
    out += ["Every number above is in `stats.json`, and every trial in `trials.parquet`.", ""]
    return out


def _design_bullets(a: StudyAnalysis, p: Provenance) -> list[str]:
    """What was trained, on how many workers, with which seeds, and the tuning budget."""
    training, tuning = p.training, p.tuning
    out = [
        f"- **Data and model**: {p.data.name} with {p.model.preset or p.model.name}; "
        f"{training.epochs} epochs, batch {training.batch_size}, lr {training.lr} "
        f"({training.schedule}), momentum {training.momentum}, weight decay {training.weight_decay}.",
        _test_set_bullet(p),
    ]
    if p.workers_per_trial > 1:
        perturbation = training.perturbation
        meaning = (
            "each worker perturbs with its own minibatch gradient (m-sharpness); only the update is all-reduced"
            if perturbation == "local"
            else "the ascent gradient is all-reduced, so every worker applies the one-device perturbation"
        )
        out.append(
            f"- **Data-parallel**: {p.workers_per_trial} workers per trial, {perturbation} perturbation: {meaning}."
        )
    out.append(_seeds_bullet(a))
    out.append(
        f"- **Budget**: Optuna TPE, {tuning.trials} trial(s) × {tuning.repeats} search(es) per tuned "
        f"method ({tuning.startup_trials} random start), selecting on validation accuracy; scheduler "
        f"{tuning.scheduler}. Trials: {p.trials.tune} tuning, {p.trials.eval} evaluation, "
        f"{cell(p.trials.compute_s, 0)} s of trial time in all."
    )
    return out


def _test_set_bullet(p: Provenance) -> str:
    """Which test set the study scored on, and so what its test metrics estimate."""
    size = getattr(p.data, "test_size", None)
    if size:
        return (
            f"- **Test set**: {size} examples generated under their own seed, the same for every trial: the test "
            "metrics estimate each model's performance on the task's distribution."
        )
    if p.data.factory:
        return "- **Test set**: the test split the data factory returns for each trial's seed."
    return (
        "- **Test set**: the dataset's standard test set, the same for every trial: the test metrics estimate each "
        "model's performance on that test set."
    )


def _seeds_bullet(a: StudyAnalysis) -> str:
    d = a.decisions
    paired = "paired: the same seed gives every method the same initialisation, data order and split."
    if d is None:
        return f"- **Seeds**: {', '.join(str(x) for x in a.seeds)} ({len(a.seeds)}), {paired}"
    looks = ", ".join(str(n) for n in d.looks)
    return (
        f"- **Seeds**: in rounds planned in advance, with looks at {looks} seeds (seeds 0 to {d.looks[-1] - 1} at "
        f"most), each comparison until it was decided; {paired}"
    )


def _sequential_bullets(a: StudyAnalysis) -> list[str]:
    """How a sequential study decided; the fixed-design tests below are then descriptive."""
    d = a.decisions
    if d is None:
        return []
    return [
        f"- **Sequential decisions**: on {d.metric} (method − {d.reference} per seed; a loss is negated so that "
        f"higher is better), {PROCEDURE}, at family-wise α = {d.alpha:g} over {len(d.methods)} comparison(s) and "
        f"{len(d.looks)} planned look(s). Each look's one-sided levels and both intervals are in `decisions.json`. "
        "The tests below are the fixed-design ones, descriptive here.",
    ]


def _statistics_bullets(a: StudyAnalysis) -> list[str]:
    """The tests, the correction, what diverged runs count as, the intervals, the rank test and the power."""
    s = a.statistics
    level = round(100 * s.confidence_level)
    sides = "two-sided" if s.alternative == "two-sided" else "one-sided (method better than the reference)"
    diverged = (
        f"scored as failures ({s.metric} = 0)"
        if s.diverged == "failure" and a.higher_is_better
        else "left out of the comparisons that need them"
    )
    return [
        f"- **Tests**: on {s.metric}, each method against {a.reference}, paired by seed: the paired t-test "
        "(`scipy.stats.ttest_rel`, its interval from `confidence_interval`) and the Wilcoxon signed-rank test "
        f"(`scipy.stats.wilcoxon`, exact; sign-flip permutation when ties or zero differences make the exact "
        f"table wrong), {sides}. The decision uses the {TEST_NAMES[s.test]}.",
        f"- **Correction**: {CORRECTION_NAMES[s.correction]} across the family of methods compared with the "
        f"reference, at α = {s.alpha:g}"
        + (" (family-wise error rate)." if s.correction == "holm" else " (false discovery rate)."),
        f"- **Diverged and failed runs**: diverged runs are counted per method and {diverged}; runs that failed "
        "(an error, not divergence) or are missing are left out, so a comparison uses the seeds both methods have.",
        f"- **Intervals**: every interval is a {level}% Student t-interval, at any number of seeds: of each "
        "method's mean over its seeds, and of each paired mean difference"
        + (" (one-sided, like the tests)" if s.alternative != "two-sided" else "")
        + ". Its coverage holds for normally distributed scores however few the seeds; a bootstrap interval's "
        "does not (at 3 seeds a nominal 95% BCa interval covers the mean about 72% of the time).",
        "- **All methods**: the Friedman test over seeds (one dataset per study), average ranks (1 = best) and "
        "Nemenyi's critical difference.",
        f"- **Power**: the seeds a paired t-test needs to detect the observed d_z at α = {s.alpha:g} with power "
        f"{s.power:g} (noncentral t), uncorrected.",
    ]


def _provenance_bullets(p: Provenance) -> list[str]:
    """The code, library versions and machines the trials ran with."""
    commits = p.git_commits or ("unknown",)
    out = [f"- **Code**: commit {', '.join(f'`{c}`' for c in commits)}."]
    if p.versions:
        out.append("- **Versions**: " + ", ".join(f"{k} {'/'.join(v)}" for k, v in sorted(p.versions.items())) + ".")
    out.append(f"- **Ran on**: {', '.join(p.devices or ('?',))}; node(s) {', '.join(p.nodes or ('?',))}.")
    return out
