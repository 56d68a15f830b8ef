"""The shifted test set: a feature-correlation change and/or additive Gaussian noise on normalised inputs."""

from __future__ import annotations

import numpy as np


def shifted_inputs(
    x_test: np.ndarray,
    x_train: np.ndarray,
    *,
    noise_std: float,
    correlation: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return a shifted copy of the normalised test inputs ``x_test`` (shape (n, ...)).

    Correlation change of strength c (tabular inputs, shape (n, d)): with per-feature training mean
    mu_j and std s_j, feature j becomes mu_j + sqrt(1 - c) (x_j - mu_j) + sqrt(c) s_j z, where z ~ N(0, 1)
    is one draw per example shared by all features. This keeps each feature's mean and variance and
    moves every pairwise correlation rho to (1 - c) rho + c: c = 0 changes nothing, c = 1 makes all
    features one shared noise factor. Features constant in training (s_j = 0) are left as they are.

    Noise: then adds independent N(0, noise_std^2) to every input value.
    """
    shifted = x_test.astype(np.float32, copy=True)
    if correlation > 0.0:
        if shifted.ndim != 2:
            raise ValueError(f"a correlation shift needs tabular inputs of shape (n, d), got {x_test.shape}")
        mean = x_train.mean(axis=0, dtype=np.float64)
        std = x_train.std(axis=0, dtype=np.float64)
        shared = rng.standard_normal((len(shifted), 1))
        mixed = mean + np.sqrt(1.0 - correlation) * (shifted - mean) + np.sqrt(correlation) * std * shared
        shifted = np.where(std > 0, mixed, shifted).astype(np.float32)
    if noise_std > 0.0:
        # float32 draws: CIFAR's test set is 30 M values, and float64 would double the memory for nothing.
        shifted += noise_std * rng.standard_normal(shifted.shape, dtype=np.float32)
    return shifted
