"""``data.test_size``: a generated test set in place of the standard one, for MNIST-1D and the synthetic task."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from pipeline.data import DataConfig, build_dataset
from pipeline.data.tabular import MNIST1D_SAMPLES, MNIST1D_SEED, _mnist1d_raw


def test_the_raw_draw_is_the_packages_own_before_it_standardises() -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    raw, labels = _mnist1d_raw(MNIST1D_SAMPLES, MNIST1D_SEED)
    standard = make_dataset(get_dataset_args())
    scaled = (raw - raw.mean()) / raw.std()
    assert np.array_equal(scaled[:4000], standard["x"]) and np.array_equal(scaled[4000:], standard["x_test"])
    assert np.array_equal(labels[:4000], standard["y"]) and np.array_equal(labels[4000:], standard["y_test"])


def test_mnist1d_with_a_generated_test_set_keeps_its_training_pool_and_scale() -> None:
    standard, generated = build_dataset(DataConfig(), 0), build_dataset(DataConfig(test_size=3000), 0)
    assert torch.equal(standard.train.x, generated.train.x) and torch.equal(standard.val.y, generated.val.y)
    assert len(standard.test) == 1000 and len(generated.test) == 3000
    assert sorted(torch.bincount(generated.test.y).tolist()) == [300] * 10
    # The same examples for every seed (a seed moves the train/validation split), each seed scaling them with its
    # own training split's statistics, as it scales the standard test set.
    other_seed = build_dataset(DataConfig(test_size=3000), 1)
    assert torch.equal(other_seed.test.y, generated.test.y) and not torch.equal(other_seed.train.x, generated.train.x)
    assert torch.allclose(other_seed.test.x, generated.test.x, atol=0.02)
    # In the training split's units, as the standard test set is: the same mean and spread, up to sampling.
    for x in (standard.test.x, generated.test.x):
        assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05
    # Fresh examples: none is one of the standard set's.
    pool = {tuple(row) for row in standard.train.x.numpy().round(5)} | {
        tuple(r) for r in standard.test.x.numpy().round(5)
    }
    assert not any(tuple(row) in pool for row in generated.test.x.numpy().round(5))


def test_the_synthetic_task_draws_its_larger_test_set_in_the_same_call() -> None:
    settings = {"name": "synthetic", "synthetic": {"n_samples": 400}}
    standard = build_dataset(DataConfig(**settings), 0)
    generated = build_dataset(DataConfig(**settings, test_size=5000), 0)
    assert (len(generated.train), len(generated.val), len(generated.test)) == (len(standard.train), 80, 5000)
    again = build_dataset(DataConfig(**settings, test_size=5000), 0)
    assert torch.equal(again.test.x, generated.test.x) and torch.equal(again.train.x, generated.train.x)
    assert abs(float(generated.test.y.float().mean()) - 0.5) < 0.05  # both classes, as the pool has them


def test_a_test_size_is_refused_where_no_generator_can_draw_one_and_left_out_of_the_dump_when_unset() -> None:
    for name in ("digits", "cifar10"):
        with pytest.raises(ValidationError, match="test_size: a generated test set needs a generated dataset"):
            DataConfig(name=name, test_size=1000, root="/data" if name == "cifar10" else None)
    with pytest.raises(ValidationError, match="greater than or equal to 10"):
        DataConfig(test_size=5)
    assert "test_size" not in DataConfig().model_dump() and DataConfig(test_size=50).model_dump()["test_size"] == 50
