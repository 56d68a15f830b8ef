"""Compare the test-set share of the spread that a study's report estimates with the share measured by a second
run of the same study scored on a much larger test set from the same distribution.

    python infra/bench/compare-spread.py STANDARD_STUDY_DIR LARGE_STUDY_DIR

For each comparison with the reference that both runs scored on at least 3 paired seeds:

- ``estimated``: the per-example (test-set) share of Var(d) on the standard test set of n examples, from that run's
  own outcomes alone, with its interval (``pipeline.stats.variance_split``: the figure its report states);
- ``measured``: the share the large run measures for a test set of n examples. On N examples its per-example part
  is N/n times smaller than on n and its between-run part is the same, so its split gives both parts at n directly:
  ``share(n) = (N/n) pe_N / ((N/n) pe_N + between_N)``; the interval puts the ends of both parts' intervals
  together (per-example low with between high, and the reverse). This needs no model in common between the runs.
- ``same models``: where both runs selected the same hyperparameters for the method and the reference, seed k is
  the same trained model in both runs, scored on two test sets; ``1 - between_N / total_n`` over the seeds both
  ran is then the part of the spread on n examples that the large test set removes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.results.folder import StudyFolder
from pipeline.results.outcomes import correctness
from pipeline.results.study_results import load_study_results
from pipeline.stats.variance_split import VarianceSplit, split_variance


def eval_keys(study_dir: Path) -> tuple[str, dict[tuple[str, int], str]]:
    results = load_study_results(study_dir)
    keys = {(r.method, r.seed): r.trial_key for r in results.rows if r.phase == "eval" and r.status == "ok"}
    return results.spec.reference, keys


def split_of(study_dir: Path, keys: dict[tuple[str, int], str], method: str, reference: str, seeds: list[int]):
    folder = StudyFolder(study_dir).outcomes
    return split_variance(
        correctness(folder, [keys[(method, s)] for s in seeds]),
        correctness(folder, [keys[(reference, s)] for s in seeds]),
    )


def measured_share(large: VarianceSplit, examples: int) -> tuple[float, float, float]:
    """The share on ``examples`` test examples from the large run's split, with its interval (module docstring)."""
    k = large.examples / examples

    def share(per_example: float, between: float) -> float:
        part = k * max(per_example, 0.0)
        return part / (part + max(between, 0.0))

    (pe_low, pe_high), (b_low, b_high) = large.per_example_interval, large.between_interval
    return share(large.per_example, large.between), share(pe_low, b_high), share(pe_high, b_low)


def seeds_of(keys: dict[tuple[str, int], str], method: str, reference: str) -> list[int]:
    return sorted(s for m, s in keys if m == method and (reference, s) in keys)


def main(standard_dir: str, large_dir: str) -> None:
    standard_dir_, large_dir_ = Path(standard_dir), Path(large_dir)
    reference, standard = eval_keys(standard_dir_)
    _, large = eval_keys(large_dir_)
    selected = [json.loads((d / "selection.json").read_text()) for d in (standard_dir_, large_dir_)]
    print(
        "| comparison | seeds (standard / large) | estimated share on the standard set | measured by the large "
        "set | agrees | same models: seeds, share |"
    )
    print("|---|---:|---:|---:|---|---|")
    for method in sorted({m for m, _ in standard if m != reference}):
        ours, theirs = seeds_of(standard, method, reference), seeds_of(large, method, reference)
        if len(ours) < 3 or len(theirs) < 3:
            continue
        on_standard = split_of(standard_dir_, standard, method, reference, ours)
        on_large = split_of(large_dir_, large, method, reference, theirs)
        share, low, high = measured_share(on_large, on_standard.examples)
        e_low, e_high = on_standard.share_interval
        agrees = "yes" if e_low <= share <= e_high else "no"
        same = "–"
        if all(selected[0][m]["params"] == selected[1][m]["params"] for m in (method, reference)):
            common = sorted(set(ours) & set(theirs))
            if len(common) >= 3:
                a = split_of(standard_dir_, standard, method, reference, common)
                b = split_of(large_dir_, large, method, reference, common)
                same = f"{len(common)}, {1.0 - max(b.between, 0.0) / a.total:.0%}"
        print(
            f"| {method} − {reference} | {len(ours)} / {len(theirs)} | {on_standard.share:.0%} "
            f"[{e_low:.0%}, {e_high:.0%}] | {share:.0%} [{low:.0%}, {high:.0%}] | {agrees} | {same} |"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
