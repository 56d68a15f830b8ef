"""Smoke test of `sam-study bench trials` (tiny sizes; no timing is asserted)."""

from __future__ import annotations

from pipeline.bench.trials import baseline_rows, main, speed_rows
from pipeline.optim import list_optimizers


def test_speed_rows_cover_every_optimizer_with_positive_times():
    rows = speed_rows(epochs=1, device="cpu", model={"name": "mlp", "hidden": (8,)})
    assert [r["optimizer"] for r in rows] == list_optimizers()
    assert all(r["seconds_per_epoch"] > 0 and r["samples_per_second"] > 0 for r in rows)
    assert rows[0]["ratio_to_sgd"] == 1.0


def test_baselines_report_both_checkpoints_next_to_the_published_accuracy(capsys):
    rows = baseline_rows(seeds=[0, 1], epochs=1, device="cpu", lr=0.1)
    assert [r["model"] for r in rows] == ["mnist1d_mlp", "mnist1d_cnn"]
    for r in rows:
        assert 0.0 < r["test_accuracy_mean"] <= 1.0 and 0.0 < r["final_test_accuracy_mean"] <= 1.0
        assert len(r["test_accuracies"]) == 2 and r["published"] in (0.68, 0.94)
    assert main(["baselines", "--epochs", "1", "--seeds", "0", "--device", "cpu"]) == 0
    assert "| mnist1d_cnn | [0] |" in capsys.readouterr().out
