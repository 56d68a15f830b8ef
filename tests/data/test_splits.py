"""The split primitives: exact stratified partitions and exact symmetric label noise."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.splits import split_sizes, stratified_partition, symmetric_label_noise


def test_split_sizes_round_each_held_out_part_and_refuse_empty_parts():
    assert split_sizes(2000, [0.2, 0.2]) == [1200, 400, 400]
    assert split_sizes(1797, [0.2, 0.2]) == [1079, 359, 359]
    assert split_sizes(4000, [0.2]) == [3200, 800]
    with pytest.raises(ValueError, match=r"part sizes \[4, 0\]"):
        split_sizes(4, [0.01])


def test_stratified_partition_is_exact_disjoint_covering_and_proportional():
    # Imbalanced classes 0..3 with 50, 30, 15 and 5 examples, shuffled.
    labels = np.random.default_rng(0).permutation(np.repeat([0, 1, 2, 3], [50, 30, 15, 5]))
    parts = stratified_partition(labels, [60, 25, 15], np.random.default_rng(1))
    assert [len(p) for p in parts] == [60, 25, 15]
    joined = np.concatenate(parts)
    assert np.array_equal(np.sort(joined), np.arange(100))  # disjoint and covering
    for part in parts:
        assert np.all(np.diff(part) > 0)  # sorted
        counts = np.bincount(labels[part], minlength=4)
        ideal = np.array([50, 30, 15, 5]) * len(part) / 100
        assert np.all(np.abs(counts - ideal) < 2), (counts, ideal)
    # The first part's shares are the largest remainders of 60 * (50, 30, 15, 5) / 100 = (30, 18, 9, 3).
    assert np.bincount(labels[parts[0]], minlength=4).tolist() == [30, 18, 9, 3]


def test_stratified_partition_draws_members_from_the_generator():
    labels = np.arange(200) % 2
    a = stratified_partition(labels, [150, 50], np.random.default_rng(5))
    b = stratified_partition(labels, [150, 50], np.random.default_rng(5))
    c = stratified_partition(labels, [150, 50], np.random.default_rng(6))
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=False))
    assert not np.array_equal(a[1], c[1])


def test_stratified_partition_refuses_sizes_that_do_not_add_up():
    with pytest.raises(ValueError, match=r"part sizes \[5, 4\] must be non-negative and sum to the 10 examples"):
        stratified_partition(np.zeros(10), [5, 4], np.random.default_rng(0))


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5])
def test_label_noise_changes_exactly_round_rate_n_labels_to_other_classes(rate):
    labels = np.arange(999) % 7
    noisy, changed = symmetric_label_noise(labels, rate, 7, np.random.default_rng(3))
    assert changed.sum() == round(rate * 999)
    assert np.array_equal(changed, noisy != labels)  # every chosen label really moved, no other did
    assert np.array_equal(labels, np.arange(999) % 7)  # input untouched
    assert noisy.min() >= 0 and noisy.max() < 7


def test_label_noise_targets_are_uniform_over_the_other_classes():
    labels = np.zeros(20000, dtype=np.int64)
    noisy, _ = symmetric_label_noise(labels, 0.9, 4, np.random.default_rng(0))
    counts = np.bincount(noisy, minlength=4)
    assert counts[0] == 2000  # the untouched 10 %
    assert np.all(np.abs(counts[1:] - 6000) < 300), counts  # 18000 changes over 3 classes, sd about 63
