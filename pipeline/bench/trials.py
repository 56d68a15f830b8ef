"""`sam-study bench trials`: whole trials on MNIST-1D, measured.

- ``speed``: seconds per training epoch of every registry optimizer (MLP by default), from
  ``TrialResult.train_time_s / epochs_run`` (validation excluded), with samples per second.
- ``baselines``: SGD with the MLP and the CNN over several seeds, mean and std of test accuracy, next to
  the accuracies the MNIST-1D paper published for those models (for comparison, not as a target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from pipeline.optim import list_optimizers
from pipeline.train import TrialConfig, run_trial

# Published test accuracies of the MNIST-1D paper (Greydanus, 2020; greydanus/mnist1d README).
PUBLISHED_ACCURACY = {"mnist1d_mlp": 0.68, "mnist1d_cnn": 0.94}


def speed_rows(epochs: int, device: str, model: dict[str, Any], seed: int = 0) -> list[dict[str, Any]]:
    rows = []
    for name in list_optimizers():
        cfg = TrialConfig.model_validate(
            dict(data={"name": "mnist1d"}, model=model, optimizer=name, epochs=epochs, seed=seed, device=device)
        )
        result = run_trial(cfg)
        rows.append(
            dict(
                optimizer=name,
                passes=result.passes_per_step,
                seconds_per_epoch=result.train_time_s / result.epochs_run,
                samples_per_second=result.samples_per_second,
                device=result.device,
            )
        )
    sgd = rows[0]["seconds_per_epoch"]
    for row in rows:
        row["ratio_to_sgd"] = row["seconds_per_epoch"] / sgd
    return rows


def baseline_rows(seeds: Sequence[int], epochs: int, device: str, lr: float) -> list[dict[str, Any]]:
    rows = []
    for preset, published in PUBLISHED_ACCURACY.items():
        accuracies, final_accuracies = [], []
        for seed in seeds:
            cfg = TrialConfig.model_validate(
                dict(
                    data={"name": "mnist1d"},
                    model={"preset": preset},
                    optimizer="sgd",
                    lr=lr,
                    momentum=0.9,
                    epochs=epochs,
                    schedule="cosine",
                    seed=seed,
                    device=device,
                )
            )
            result = run_trial(cfg)
            accuracies.append(result.test_accuracy)
            final_accuracies.append(result.final_test_accuracy)
        rows.append(
            dict(
                model=preset,
                seeds=list(seeds),
                test_accuracy_mean=statistics.mean(accuracies),
                test_accuracy_std=statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                test_accuracies=accuracies,
                final_test_accuracy_mean=statistics.mean(final_accuracies),
                final_test_accuracy_std=statistics.stdev(final_accuracies) if len(final_accuracies) > 1 else 0.0,
                published=published,
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sam-study bench trials", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["speed", "baselines"], help="which measurement")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (speed 3, baselines 100)")
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--lr", type=float, default=0.1, help="baselines: SGD learning rate (chosen on validation)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.what == "speed":
        rows = speed_rows(args.epochs or 3, args.device, model={"preset": "mnist1d_mlp"})
        print(f"# Seconds per training epoch on MNIST-1D (MLP, batch 128), on {rows[0]['device']}\n")
        print("| optimizer | passes | s/epoch | ratio to SGD | samples/s |\n|---|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['optimizer']} | {r['passes']:g} | {r['seconds_per_epoch']:.3f} | {r['ratio_to_sgd']:.2f} "
                f"| {r['samples_per_second']:.0f} |"
            )
    else:
        rows = baseline_rows(args.seeds, args.epochs or 100, args.device, args.lr)
        print(f"# MNIST-1D baselines: SGD lr {args.lr} momentum 0.9, cosine, {args.epochs or 100} epochs\n")
        print(
            "| model | seeds | test accuracy, last epoch | test accuracy, best-validation-loss checkpoint | published |"
        )
        print("|---|---|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['model']} | {r['seeds']} "
                f"| {r['final_test_accuracy_mean']:.3f} ± {r['final_test_accuracy_std']:.3f} "
                f"| {r['test_accuracy_mean']:.3f} ± {r['test_accuracy_std']:.3f} | {r['published']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
