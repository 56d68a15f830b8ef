"""Named architectures from the papers this study reproduces, as ModelConfig field values.

``mpsam_mlp``: the MP-SAM paper's second experiment, an MLP 40 -> 50 -> 25 -> 2 with dropout 0.2
(ReLU after each hidden layer).

``mnist1d_mlp`` and ``mnist1d_cnn``: the baselines of MNIST-1D (Greydanus & Kobak, "Scaling Down Deep
Learning with MNIST-1D", arXiv:2011.14439), as found in the repository greydanus/mnist1d:

- ``notebooks/models.py`` (commit 579085a):
  * ``MLPBase``: Linear(40, 100) -> ReLU, then ``h = h + ReLU(Linear(100, 100)(h))`` (a residual second
    layer), then Linear(100, 10). 15,210 parameters. Hence ``hidden=(100, 100), residual=True``.
  * ``ConvBase``: Conv1d(1, 25, k=5, stride 2, pad 1) -> ReLU -> Conv1d(25, 25, k=3, stride 2, pad 1) -> ReLU
    -> Conv1d(25, 25, k=3, stride 2, pad 1) -> ReLU -> flatten -> Linear(125, 10). Lengths 40 -> 19 -> 10 -> 5,
    so 25 x 5 = 125 features. 5,210 parameters. Hence ``name="cnn1d", channels=25``.
  * ``GRUBase`` (bidirectional GRU, hidden 6, flattened over the 40 steps -> Linear(480, 10), 5,134
    parameters) and ``LinearBase`` (Linear(40, 10), 410 parameters, i.e. ``mlp`` with ``hidden=()``).
  * Biases on, PyTorch's default initialisation, no BatchNorm, no dropout.
- ``notebooks/mnist1d-classification.ipynb`` (commit d537845) builds ``MLPBase(40, 10)`` — hidden size 100;
  the ``hidden_size: 256`` in ``notebooks/train.py``'s ``get_model_args`` is not passed to it — and prints
  the parameter counts above. Training there (``notebooks/train.py``): Adam, lr 1e-2, no weight decay,
  batch 100, 6000 steps, no augmentation; that run ends at test accuracy 92.3% (CNN), 89.1% (GRU),
  65.1% (MLP), 31.5% (linear).
- Published test accuracies (``README.md``, table "Comparing MNIST and MNIST-1D", commit 227dcad, same
  in 011d9be; the paper's abstract quotes the first three): MNIST-1D: logistic regression 32%, MLP 68%,
  CNN 94%, GRU 91%, human expert 96%. With the spatial dimension shuffled: 32%, 68%, 56%, 57%, ~30%.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

PRESETS: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType(
    {
        "mpsam_mlp": MappingProxyType(
            {"name": "mlp", "hidden": (50, 25), "dropout": 0.2, "batchnorm": False, "residual": False}
        ),
        "mnist1d_mlp": MappingProxyType(
            {"name": "mlp", "hidden": (100, 100), "dropout": 0.0, "batchnorm": False, "residual": True}
        ),
        "mnist1d_cnn": MappingProxyType({"name": "cnn1d", "channels": 25}),
    }
)
