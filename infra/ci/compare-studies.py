"""Compare two folders of the same study (or suite) run before and after a change that must not change results.

    .venv/bin/python infra/ci/compare-studies.py OLD_FOLDER NEW_FOLDER

For every study folder under each (a folder holding trials.parquet; a suite's tasks included), it walks both trials
tables by trial key and compares every column that a result is made of, value by value (exact for integers and
strings, floats bit for bit): everything except what differs from run to run by nature (wall times, throughput,
memory, node, when it finished, MLflow run ids, the code's digest and commit). Then decisions.json must be
equal, and report.md and stats.json equal once their timing figures are masked. It prints one line per folder and
exits 0 when all agree, 1 otherwise, naming the first differences.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

# Columns that differ between two runs of the same trials by nature, not by result.
RUN_TO_RUN = {
    "wall_time_s", "train_time_s", "seconds_per_epoch", "samples_per_second", "peak_memory_mb", "node",
    "finished_at", "mlflow_run_id", "code_digest", "git_commit", "version.sam-study",
}  # fmt: skip


def _history(text: str | None) -> str | None:
    """An epoch history without each epoch's wall seconds."""
    if text is None:
        return None
    return json.dumps([{k: v for k, v in epoch.items() if k != "seconds"} for epoch in json.loads(text)])


def _config(text: str | None) -> str | None:
    """A trial's configuration without its checkpoint folder (under the study folder, wherever that is)."""
    return None if text is None else json.dumps({k: v for k, v in json.loads(text).items() if k != "checkpoint_dir"})


JSON_COLUMNS = {"history_json": _history, "config_json": _config}
# Numbers in report.md that are timings: masked before the texts are compared.
TIMING = re.compile(r"(\d+(\.\d+)?)(?=\s*(s\b|s /|seconds))")
RUN_IDS = re.compile(r"[0-9a-f]{40}(\+dirty)?|[\w.-]+/127\.0\.0\.1/[0-9a-f]{12}")  # a commit, a Ray node


def study_folders(root: Path) -> dict[str, Path]:
    found = sorted(p for p in root.rglob("trials.parquet") if "mlartifacts" not in p.parts and "ray" not in p.parts)
    return {str(p.parent.relative_to(root)): p.parent for p in found}


def equal(x: object, y: object) -> bool:
    """Bit for bit, NaN equal to NaN, arrays element by element."""
    if hasattr(x, "__len__") and not isinstance(x, str):
        return hasattr(y, "__len__") and len(x) == len(y) and all(equal(u, v) for u, v in zip(x, y, strict=True))
    if pd.isna(x) or pd.isna(y):
        return bool(pd.isna(x) and pd.isna(y))
    return x == y


def compare_tables(old: Path, new: Path) -> list[str]:
    a, b = (pd.read_parquet(p / "trials.parquet").set_index("trial_key").sort_index() for p in (old, new))
    problems = []
    if set(a.index) != set(b.index):
        problems.append(
            f"trial keys differ: only old {sorted(set(a.index) - set(b.index))[:5]}, "
            f"only new {sorted(set(b.index) - set(a.index))[:5]}"
        )
        return problems
    # A column of one side only is a difference unless it is empty there: a column added to the schema since, which
    # these trials have no value for (a failed trial's traceback, in a run where none failed).
    for name, only, table in (("old", set(a.columns) - set(b.columns), a), ("new", set(b.columns) - set(a.columns), b)):
        if filled := sorted(c for c in only if table[c].notna().any()):
            problems.append(f"columns only {name}, with values: {filled}")
    for column in sorted((set(a.columns) & set(b.columns)) - RUN_TO_RUN):
        left, right = a[column], b.loc[a.index, column]
        if column in JSON_COLUMNS:
            left, right = left.map(JSON_COLUMNS[column]), right.map(JSON_COLUMNS[column])
        for key, x, y in zip(a.index, left, right, strict=True):
            if not equal(x, y):
                problems.append(f"{column} differs at {key}: {x!r} != {y!r}")
                break
    return problems


# A table column whose header names one of these holds measured times (or ratios of them): its cells are masked.
TIMED_HEADERS = ("time", "(s)", "s /", "× sgd", "per extra", "cost", "seconds")


TIMED_KEY = re.compile(r"time|_s$|seconds|per_second|cost|memory|git_commits|^nodes$|_dir$")


def without_timings(value: object) -> object:
    """A JSON value without its measured times, the code's commits, Ray's nodes and folder paths, at any depth."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMED_KEY.search(k)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def masked(text: str) -> str:
    """A report's text with its timings masked (table cells under a timed header, numbers read as seconds
    elsewhere), and the code's commit and the Ray nodes it names."""
    lines, timed = [], set()
    for line in text.splitlines():
        cells = line.split("|")
        if line.startswith("|") and not set(line) <= set("|-: "):
            if not timed and any(h in line.lower() for h in TIMED_HEADERS) and "---" not in line:
                timed = {i for i, c in enumerate(cells) if any(h in c.lower() for h in TIMED_HEADERS)}
                lines.append(line)
                continue
            cells = ["<t>" if i in timed else c for i, c in enumerate(cells)]
            line = "|".join(cells)
        elif not line.startswith("|"):
            timed = set()
        lines.append(line)
    return RUN_IDS.sub("<id>", TIMING.sub("<t>", "\n".join(lines)))  # the code's commit, the trials' Ray nodes


def compare_files(old: Path, new: Path, roots: tuple[Path, Path]) -> list[str]:
    problems = []
    for name in ("decisions.json", "report.md", "stats.json"):
        if not (old / name).exists() and not (new / name).exists():
            continue
        left, right = ((p / name).read_text() if (p / name).exists() else "" for p in (old, new))
        if name.endswith(".json"):
            left, right = (without_timings(json.loads(t or "null")) for t in (left, right))
        else:
            left, right = (masked(t).replace(str(root), "<out>") for t, root in zip((left, right), roots, strict=True))
        if left != right:
            if isinstance(left, str):
                pairs = list(zip(left.splitlines(), right.splitlines(), strict=False))
                line = next((i for i, (x, y) in enumerate(pairs) if x != y), len(pairs))
                shown = pairs[line] if line < len(pairs) else ("(end)", "(end)")
                problems.append(f"{name} differs at line {line + 1}: {shown[0]!r} != {shown[1]!r}")
            else:
                problems.append(f"{name} differs")
    return problems


def main(old_root: Path, new_root: Path) -> int:
    old, new = study_folders(old_root), study_folders(new_root)
    if set(old) != set(new) or not old:
        print(f"the folders hold different studies: {sorted(old)} and {sorted(new)}")
        return 1
    failed = False
    for name in old:
        problems = compare_tables(old[name], new[name]) + compare_files(old[name], new[name], (old_root, new_root))
        rows = len(pd.read_parquet(old[name] / "trials.parquet"))
        print(f"{name}: {rows} trials; " + ("the same" if not problems else "DIFFERENT: " + "; ".join(problems[:5])))
        failed |= bool(problems)
    suites = {p.parent for p in old_root.rglob("suite.json") if "mlartifacts" not in p.parts}
    for suite in sorted(suites):
        twin = new_root / suite.relative_to(old_root)
        problems = compare_files(suite, twin, (old_root, new_root))
        verdict = "the same" if not problems else "DIFFERENT: " + "; ".join(problems)
        print(f"suite {suite.relative_to(old_root)}: {verdict}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
