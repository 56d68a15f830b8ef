"""Smoke test of `sam-study bench sequential` (tiny replication counts; no figure is asserted)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.bench.sequential import DECISIONS, EFFECTS, main, simulate_cell
from pipeline.cli.main import BENCHMARKS
from pipeline.stats.sequential import Schedule


def _table_rows(out: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # the first is the header


def test_main_prints_every_cell_with_probabilities_summing_to_one_and_seeds_in_the_schedule(capsys):
    assert main(["--replications", "20", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    rows = _table_rows(out)
    cells = {(row[0], row[1], row[2]) for row in rows}
    assert cells == {(m, s, f"{e:g}δ") for m in ("1", "10") for s in ("0.005", "0.01") for e in EFFECTS}
    assert len(rows) == len(cells)
    for row in rows:
        assert sum(float(p) for p in row[4:8]) == pytest.approx(1.0, abs=2e-3)  # four decisions, 3 decimals each
        assert 5 <= float(row[8]) <= 40 and 5 <= float(row[9]) <= 40  # mean and p90 seeds
        assert 0.0 <= float(row[10]) <= 1.0
        assert all(0.0 <= float(v) <= 1.0 for v in row[14:17]) and 0 <= float(row[18]) <= 1
        assert 5 <= float(row[17]) <= float(row[8])  # futility never spends more seeds
    assert "Command: `sam-study bench sequential --replications 20 --seed 3`" in out
    assert "Machine:" in out and "Wall time:" in out
    assert BENCHMARKS["sequential"] == "pipeline.bench.sequential"


def test_a_cell_is_reproducible_from_its_generator_and_decides_every_comparison():
    kwargs = dict(effect=0.01, std=0.005, schedule=Schedule(5, 5, 20), alpha=0.05, margin=0.005, replications=25)
    a = simulate_cell(np.random.default_rng(1), n_family=10, **kwargs)
    b = simulate_cell(np.random.default_rng(1), n_family=10, **kwargs)
    assert a == b
    assert a.comparisons == 30  # rounded up to whole families
    assert sum(a.probability[d] for d in DECISIONS) == pytest.approx(1.0)
    assert 5 <= a.mean_seeds <= 20 and 5 <= a.p90_seeds <= 20
    null = simulate_cell(np.random.default_rng(1), n_family=1, **{**kwargs, "effect": 0.0})
    assert null.same_power_seeds is None  # no sign to find, so no fixed design to match


def test_futility_never_adds_seeds_and_stops_only_what_it_leaves_undecided():
    kwargs = dict(std=0.04, schedule=Schedule(5, 5, 40), alpha=0.05, margin=0.005, replications=200, n_family=1)
    hopeless = simulate_cell(np.random.default_rng(2), effect=0.0025, futility=0.1, **kwargs)
    assert hopeless.futility_mean_seeds < hopeless.mean_seeds and hopeless.futility_stopped > 0.5
    assert hopeless.futility_probability["undecided"] >= hopeless.futility_stopped
    assert simulate_cell(np.random.default_rng(2), effect=0.0025, **kwargs).futility_probability is None


@pytest.mark.slow
@pytest.mark.parametrize("n_family", [1, 10])
@pytest.mark.parametrize("std", [0.005, 0.01])
def test_with_futility_the_null_cells_of_the_bench_keep_their_error_rate(n_family, std):
    # The bench's own null cells (effect 0, δ = 0.005, its default grid): a "better" or "worse" is false, and
    # each comparison of a family of m may err at most α / m (Bonferroni), with or without futility.
    cell = simulate_cell(
        np.random.default_rng(100 * n_family + int(std * 1000)),
        effect=0.0,
        std=std,
        schedule=Schedule(5, 5, 40),
        alpha=0.05,
        margin=0.005,
        n_family=n_family,
        replications=2000,
        futility=0.1,
    )
    level = 0.05 / n_family
    bound = level + 3 * np.sqrt(level * (1 - level) / cell.comparisons)
    for probability in (cell.probability, cell.futility_probability):
        assert probability["better"] + probability["worse"] <= bound, (probability, bound)
    assert cell.futility_mean_seeds <= cell.mean_seeds
