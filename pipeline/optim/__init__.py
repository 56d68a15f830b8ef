"""The SAM optimizer family as torch optimizers: SAM, ASAM, MP-SAM, F-SAM, XSAM, and LETS over any of them.

Each variant wraps an already-built base optimizer and shares its param groups; the exact rules are
specified in docs/algorithms.md. This package imports torch only, never the rest of ``pipeline``.
"""

from pipeline.optim.asam import ASAM
from pipeline.optim.base import SAMFamilyOptimizer
from pipeline.optim.batchnorm import bn_update_once_per_step, running_stats_frozen
from pipeline.optim.fsam import FSAM
from pipeline.optim.lets import LETS
from pipeline.optim.mpsam import MPSAM
from pipeline.optim.registry import (
    REGISTRY,
    TRAINER_SET,
    base_optimizer,
    create_optimizer,
    default_hyperparameters,
    description,
    get_variant,
    hyperparameter_names,
    hyperparameter_types,
    inner_of,
    learns_rho,
    list_optimizers,
    passes_per_step,
    register_rule,
    set_by_trainer,
    trainer_hyperparameters,
    validate_hyperparameters,
)
from pipeline.optim.sam import SAM
from pipeline.optim.xsam import XSAM

__all__ = [
    "ASAM",
    "FSAM",
    "LETS",
    "MPSAM",
    "REGISTRY",
    "SAM",
    "TRAINER_SET",
    "XSAM",
    "SAMFamilyOptimizer",
    "base_optimizer",
    "bn_update_once_per_step",
    "create_optimizer",
    "default_hyperparameters",
    "description",
    "get_variant",
    "hyperparameter_names",
    "hyperparameter_types",
    "inner_of",
    "learns_rho",
    "list_optimizers",
    "passes_per_step",
    "register_rule",
    "running_stats_frozen",
    "set_by_trainer",
    "trainer_hyperparameters",
    "validate_hyperparameters",
]
