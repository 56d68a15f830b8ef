"""Tabular datasets: synthetic (make_classification), digits (8x8 scans as 64 features) and MNIST-1D.

Each builder returns normalised ``ArraySplits``; statistics always come from the training split only.
"""

from __future__ import annotations

import functools
import random
import threading

import numpy as np

from pipeline.data.config import DataConfig
from pipeline.data.splits import ArraySplits, split_sizes, stratified_partition

_MNIST1D_LOCK = threading.Lock()


def build_synthetic(cfg: DataConfig, rng: np.random.Generator) -> ArraySplits:
    """make_classification(**cfg.synthetic) (its own fixed random_state), stratified 60/20/20 drawn
    from ``rng``, each feature standardised with training mean and std (features differ in scale).

    With ``cfg.test_size``, the same call draws ``test_size`` more examples, which replace the test split: the
    same distribution (make_classification draws its clusters from random_state, so a call under another state
    would be another task), examples disjoint from the pool's, the same for every seed. The pool's examples then
    differ from those of a study without ``test_size`` (make_classification draws all of them at once)."""
    from sklearn.datasets import make_classification

    settings = cfg.synthetic.model_dump()
    n, classes = settings["n_samples"], cfg.synthetic.n_classes
    if not cfg.test_size:
        x, y = make_classification(**settings)
        return _split_pool(x, y, classes, rng, per_feature=True)
    x, y = make_classification(**{**settings, "n_samples": n + cfg.test_size})
    train, val, _ = stratified_partition(y[:n], split_sizes(n, [0.2, 0.2]), rng)  # as _split_pool, less its test
    return _normalised(x[train], y[train], x[val], y[val], x[n:], y[n:], classes, per_feature=True)


def build_digits(cfg: DataConfig, rng: np.random.Generator) -> ArraySplits:
    """sklearn's 1797 digit scans, stratified 60/20/20 drawn from ``rng``.

    Scaled with one training mean and std over all pixels: pixels share one intensity unit, and
    per-pixel scaling would blow up border pixels that are almost always 0 (one lit in training
    would reach |z| of about 100 on test images).
    """
    x, y = _digits_arrays()
    return _split_pool(x, y, 10, rng, per_feature=False)


def build_mnist1d(cfg: DataConfig, rng: np.random.Generator) -> ArraySplits:
    """MNIST-1D with the package's default arguments: 4000 training + 1000 test sequences of length 40.

    The validation split is a stratified ``cfg.val_fraction`` of the 4000. Standardised with one
    training mean and std over all positions (the package standardises over train and test together,
    and per-position scaling would distort the sequences that a 1-D CNN slides over).
    """
    x_pool, y_pool, x_test, y_test = _mnist1d_arrays()
    train, val = stratified_partition(y_pool, split_sizes(len(y_pool), [cfg.val_fraction]), rng)
    if cfg.test_size:
        x_test, y_test = mnist1d_test_pool(cfg.test_size)
    return _normalised(x_pool[train], y_pool[train], x_pool[val], y_pool[val], x_test, y_test, 10, per_feature=False)


MNIST1D_SEED, MNIST1D_SAMPLES = 42, 5000  # the package's defaults: its standard set
MNIST1D_TEST_POOL_SEED = 4242  # a generated test pool's own seed


@functools.lru_cache(maxsize=2)
def mnist1d_test_pool(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` fresh MNIST-1D sequences from the package's generator under their own seed, in the standard set's
    units: the package standardises each draw with that draw's own mean and std, so the pool is drawn before that
    step and standardised with the standard set's (the training split's statistics then scale both alike)."""
    per_class = -(-size // 10)  # the generator draws the same number of each class
    raw_standard, _ = _mnist1d_raw(MNIST1D_SAMPLES, MNIST1D_SEED)
    raw, labels = _mnist1d_raw(10 * per_class, MNIST1D_TEST_POOL_SEED)
    pool = (raw - raw_standard.mean()) / raw_standard.std()
    return _read_only(pool[:size]), _read_only(labels[:size].astype(np.int64))


def _mnist1d_raw(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D as the package's ``make_dataset`` draws it with ``samples`` and ``seed``, before it standardises
    (and splits): the same calls of its templates and transform, in the same order."""
    from mnist1d.data import get_dataset_args, get_templates, set_seed, transform

    args = get_dataset_args()
    args.num_samples, args.seed = samples, seed
    templates = get_templates()
    with _MNIST1D_LOCK:
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            set_seed(seed)
            xs, ys = [], []
            for label in range(len(templates["y"])):
                for _ in range(samples // len(templates["y"])):
                    x, _ = transform(templates["x"][label], templates["t"], args)
                    xs.append(x)
                    ys.append(templates["y"][label])
            order = np.random.permutation(len(ys))
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
    return np.stack(xs)[order], np.stack(ys)[order]


def _split_pool(
    x: np.ndarray, y: np.ndarray, num_classes: int, rng: np.random.Generator, *, per_feature: bool
) -> ArraySplits:
    train, val, test = stratified_partition(y, split_sizes(len(y), [0.2, 0.2]), rng)
    return _normalised(x[train], y[train], x[val], y[val], x[test], y[test], num_classes, per_feature=per_feature)


def _normalised(x_train, y_train, x_val, y_val, x_test, y_test, num_classes: int, *, per_feature: bool) -> ArraySplits:
    axis = 0 if per_feature else None
    mean = x_train.mean(axis=axis, dtype=np.float64)
    std = x_train.std(axis=axis, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # a constant feature stays constant instead of becoming NaN

    def scale(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)

    def labels(y: np.ndarray) -> np.ndarray:
        return np.array(y, dtype=np.int64)  # a copy: y_test may be a cached, read-only array

    return ArraySplits(
        scale(x_train),
        labels(y_train),
        scale(x_val),
        labels(y_val),
        scale(x_test),
        labels(y_test),
        num_classes=num_classes,
        input_shape=(x_train.shape[1],),
        is_image=False,
    )


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return _read_only(digits.data.astype(np.float64)), _read_only(digits.target.astype(np.int64))


def _mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as read-only arrays, generated once per process (about 1 s)."""
    # The lock keeps two threads from generating at once and restoring each other's global RNG state.
    with _MNIST1D_LOCK:
        return _generate_mnist1d()


@functools.lru_cache(maxsize=1)
def _generate_mnist1d() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Imported here: mnist1d pulls in matplotlib, which the other datasets do not need.
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset reseeds numpy's and Python's global RNGs; put both back so the caller's stay untouched.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return tuple(_read_only(np.asarray(data[k])) for k in ("x", "y", "x_test", "y_test"))


def _read_only(array: np.ndarray) -> np.ndarray:
    # Cached arrays are shared between calls; a write would silently change every later dataset.
    array.setflags(write=False)
    return array
