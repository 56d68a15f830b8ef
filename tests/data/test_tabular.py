"""build_dataset on synthetic, digits and MNIST-1D: sizes, determinism, stratification, noise, shift, RNG hygiene."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pipeline.data import DataConfig, DatasetSplits, Split, SyntheticConfig, build_dataset
from pipeline.data.tabular import _generate_mnist1d

TABULAR = ["synthetic", "digits", "mnist1d"]
SIZES = {"synthetic": (1200, 400, 400), "digits": (1079, 359, 359), "mnist1d": (3200, 800, 1000)}
INPUT_DIM = {"synthetic": 40, "digits": 64, "mnist1d": 40}
NUM_CLASSES = {"synthetic": 2, "digits": 10, "mnist1d": 10}


def _build(name: str, seed: int = 0, **settings) -> DatasetSplits:
    return build_dataset(DataConfig(name=name, **settings), seed)


def _rows(split: Split) -> set[bytes]:
    return {row.tobytes() for row in split.x.numpy()}


def _same_split(a: Split, b: Split) -> bool:
    return torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


@pytest.mark.parametrize("name", TABULAR)
def test_sizes_shapes_and_dtypes(name):
    data = _build(name)
    assert (len(data.train), len(data.val), len(data.test)) == SIZES[name]
    assert data.input_shape == (INPUT_DIM[name],) and data.num_classes == NUM_CLASSES[name]
    assert not data.is_image and data.shifted_test is None and data.noisy_labels is None
    for split in (data.train, data.val, data.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape == (len(split), INPUT_DIM[name]) and split.x.device.type == "cpu"
        assert set(split.y.unique().tolist()) == set(range(NUM_CLASSES[name]))
        assert torch.isfinite(split.x).all()


@pytest.mark.parametrize("name", TABULAR)
def test_same_seed_same_splits_and_different_seed_different_split(name):
    a, b, c = _build(name, 7), _build(name, 7), _build(name, 8)
    for part in ("train", "val", "test"):
        assert _same_split(getattr(a, part), getattr(b, part))
    assert _rows(a.val) != _rows(c.val)
    if name == "mnist1d":
        # The official 1000 test sequences are fixed; only the normalisation follows the training split.
        assert torch.equal(a.test.y, c.test.y)
    else:
        assert _rows(a.test) != _rows(c.test)


@pytest.mark.parametrize("name", TABULAR)
def test_splits_do_not_overlap(name):
    data = _build(name, 3)
    train, val, test = _rows(data.train), _rows(data.val), _rows(data.test)
    assert len(train) == len(data.train)  # rows are unique, so row sets stand for examples
    assert not train & val and not train & test and not val & test


@pytest.mark.parametrize("name", TABULAR)
def test_splits_are_stratified(name):
    data = _build(name, 1)
    # mnist1d splits only its official training part; its test set is the official one.
    parts = (data.train, data.val) if name == "mnist1d" else (data.train, data.val, data.test)
    pool_counts = sum(torch.bincount(p.y, minlength=data.num_classes) for p in parts).double()
    pool_size = pool_counts.sum()
    for part in parts:
        ideal = pool_counts * len(part) / pool_size
        # A random, unstratified split would miss by about sqrt(n p (1 - p)): tens of examples here.
        assert (torch.bincount(part.y, minlength=data.num_classes) - ideal).abs().max() < 2


def test_synthetic_is_standardised_per_feature_with_training_statistics():
    data = _build("synthetic")
    assert torch.allclose(data.train.x.mean(0), torch.zeros(40), atol=1e-5)
    assert torch.allclose(data.train.x.std(0, correction=0), torch.ones(40), atol=1e-4)
    assert data.val.x.mean(0).abs().max() > 1e-3  # val/test use the training statistics, not their own


@pytest.mark.parametrize("name", ["digits", "mnist1d"])
def test_digits_and_mnist1d_are_standardised_with_one_training_mean_and_std(name):
    x = _build(name).train.x
    assert abs(x.mean().item()) < 1e-5 and abs(x.std(correction=0).item() - 1) < 1e-4
    # One scale for all features, not one per feature: the per-feature spreads stay unequal.
    assert (x.std(0, correction=0) - 1).abs().max() > 0.2


def test_synthetic_follows_its_settings():
    cfg = DataConfig(
        name="synthetic",
        synthetic=SyntheticConfig(n_samples=500, n_features=12, n_classes=3, n_informative=6, n_redundant=2),
    )
    data = build_dataset(cfg, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (300, 100, 100)
    assert data.input_shape == (12,) and data.num_classes == 3


def test_mnist1d_val_fraction_moves_the_split_only():
    data = _build("mnist1d", 0, val_fraction=0.1)
    assert (len(data.train), len(data.val), len(data.test)) == (3600, 400, 1000)


@pytest.mark.parametrize("name, rate", [("synthetic", 0.2), ("digits", 0.37), ("mnist1d", 0.5)])
def test_label_noise_is_exact_and_touches_only_training_labels(name, rate):
    clean, noisy = _build(name, 4), _build(name, 4, label_noise=rate)
    n = len(noisy.train)
    mask = noisy.noisy_labels
    assert mask.dtype == torch.bool and mask.shape == (n,)
    assert mask.sum().item() == round(rate * n)
    assert torch.equal(mask, noisy.train.y != clean.train.y)  # the mask marks exactly the changed labels
    assert torch.equal(noisy.train.x, clean.train.x)  # same split: noise has its own random stream
    assert _same_split(noisy.val, clean.val) and _same_split(noisy.test, clean.test)
    assert noisy.train.y.max() < noisy.num_classes


def test_label_noise_follows_the_seed():
    a, b, c = (_build("mnist1d", s, label_noise=0.2) for s in (1, 1, 2))
    assert torch.equal(a.noisy_labels, b.noisy_labels) and torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.noisy_labels, c.noisy_labels)


@pytest.mark.parametrize("name", TABULAR)
def test_shift_noise_adds_seeded_gaussian_noise_to_the_test_inputs(name):
    clean, shifted = _build(name, 2), _build(name, 2, shift_noise_std=0.5)
    assert _same_split(clean.test, shifted.test)  # the ordinary test set is untouched
    assert torch.equal(shifted.shifted_test.y, clean.test.y)
    noise = shifted.shifted_test.x - clean.test.x
    assert abs(noise.mean().item()) < 0.02 and abs(noise.std().item() - 0.5) < 0.02
    assert torch.equal(_build(name, 2, shift_noise_std=0.5).shifted_test.x, shifted.shifted_test.x)
    assert not torch.equal(_build(name, 3, shift_noise_std=0.5).shifted_test.x - _build(name, 3).test.x, noise)


def _mean_abs_correlation(x: torch.Tensor) -> float:
    corr = torch.corrcoef(x.T.double())
    off_diagonal = ~torch.eye(len(corr), dtype=torch.bool)
    return corr[off_diagonal].abs().mean().item()


def test_shift_correlation_raises_feature_correlations_and_keeps_variances():
    clean = _build("synthetic", 0)
    shifted = _build("synthetic", 0, shift_correlation=0.6).shifted_test.x
    # Every correlation rho becomes 0.4 rho + 0.6, so the mean |rho| rises well above the clean one.
    assert _mean_abs_correlation(clean.test.x) < 0.35 < 0.6 < _mean_abs_correlation(shifted)
    ratio = shifted.var(0) / clean.test.x.var(0)
    assert ((ratio - 1).abs() < 0.35).all()  # marginal variances kept (400 examples: sampling error)


def test_full_correlation_shift_leaves_one_shared_factor_and_skips_constant_features():
    data = _build("digits", 0, shift_correlation=1.0)
    x = data.shifted_test.x
    constant = data.train.x.std(0) == 0
    assert constant.any()  # digits has always-blank border pixels
    assert torch.equal(x[:, constant], data.test.x[:, constant])
    varying = x[:, ~constant]
    assert _mean_abs_correlation(varying) > 0.999


def test_build_dataset_never_touches_global_random_state():
    _generate_mnist1d.cache_clear()  # the first build runs mnist1d's generator, which reseeds globals
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    numpy_state, python_state, torch_state = np.random.get_state(), random.getstate(), torch.get_rng_state()
    first = _build("mnist1d", 0, label_noise=0.1, shift_noise_std=0.1, shift_correlation=0.2)
    for name in ("synthetic", "digits"):
        _build(name, 0, label_noise=0.1, shift_noise_std=0.1, shift_correlation=0.2)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, after, strict=False))
    assert random.getstate() == python_state and torch.equal(torch.get_rng_state(), torch_state)
    # Regenerated or cached, MNIST-1D gives the same data.
    again = _build("mnist1d", 0, label_noise=0.1, shift_noise_std=0.1, shift_correlation=0.2)
    assert _same_split(first.train, again.train) and _same_split(first.shifted_test, again.shifted_test)


def test_to_moves_every_tensor():
    data = _build("digits", 0, label_noise=0.1, shift_noise_std=0.1).to("meta")
    splits = (data.train, data.val, data.test, data.shifted_test)
    tensors = [data.noisy_labels] + [t for s in splits for t in (s.x, s.y)]
    assert all(t.device.type == "meta" for t in tensors)
    assert data.input_shape == (64,) and len(data.train) == 1079


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        build_dataset(DataConfig(name="digits"), seed)


def test_a_dict_is_not_a_config():
    with pytest.raises(TypeError, match=r"needs a DataConfig, got dict; use DataConfig\(\*\*settings\)"):
        build_dataset({"name": "digits"}, 0)


def test_split_checks_its_tensors():
    with pytest.raises(ValueError, match="float32 x and int64 y"):
        Split(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"shape \(n, \.\.\.\) and y of shape \(n,\)"):
        Split(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64))
