"""sam-study: hyperparameter studies of sharpness-aware optimizers."""

__version__ = "0.1.0"
