"""TrialConfig: everything one trial needs, validated at the door."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from pipeline.data import DataConfig
from pipeline.models import ModelConfig
from pipeline.optim import get_variant, validate_hyperparameters

HyperValue = bool | int | float | str

Precision = Literal["auto", "fp32", "bf16", "fp16"]

# Fields added since studies began, left out of a dump at their defaults: a trial that does not use them keeps the
# configuration, identity and checkpoint digest it had before they existed.
LEFT_OUT_AT_DEFAULT: dict[str, Any] = {"precision": "auto", "clip_grad_norm": None, "accumulate": 1}


def drop_defaults(dumped: dict[str, Any]) -> dict[str, Any]:
    for name, default in LEFT_OUT_AT_DEFAULT.items():
        if name in dumped and dumped[name] == default:
            del dumped[name]
    return dumped


class TrialConfig(BaseModel):
    """One training run: data, model, optimizer and schedule. The seed decides the initial weights, the
    data split and order, the augmentation and every random draw, so equal seeds pair runs across methods."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optimizer: str = "sgd"
    hparams: dict[str, HyperValue] = Field(default_factory=dict)
    base: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False
    batch_size: int = Field(128, ge=2)
    epochs: int = Field(30, ge=1)
    schedule: Literal["constant", "step", "cosine"] = "constant"
    step_every: int = Field(30, ge=1, description="step schedule: epochs between decays")
    step_gamma: float = Field(0.1, gt=0, le=1, description="step schedule: decay factor")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    patience: int | None = Field(None, ge=1, description="early stopping on validation loss; None runs every epoch")
    seed: int = Field(0, ge=0)
    device: str = "auto"
    compile: bool = False
    eval_batch_size: int = Field(1024, ge=1)
    checkpoint_dir: str | None = None
    perturbation: Literal["global", "local"] = Field(
        "global",
        description="data-parallel trials only: global = every worker perturbs with the all-reduced gradient "
        "(one device on the whole batch); local = each with its own minibatch gradient (m-sharpness)",
    )
    precision: Precision = Field(
        "auto",
        description="auto: bf16 autocast on CUDA, fp32 on the CPU; fp16: autocast with a GradScaler "
        "(docs/algorithms.md, precision, clipping and accumulation)",
    )
    clip_grad_norm: float | None = Field(
        None, gt=0, description="bound on the norm of the gradient the base optimizer applies; None: no clipping"
    )
    accumulate: int = Field(
        1, ge=1, description="micro-batches per step: every pass runs the whole batch in this many parts"
    )

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        get_variant(name)  # raises the registry's ValueError, which offers the nearest valid name
        return name

    @field_validator("device")
    @classmethod
    def _device_form(cls, device: str) -> str:
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
        return device

    @model_validator(mode="after")
    def _hyperparameters_fit_the_optimizer(self) -> TrialConfig:
        try:
            validate_hyperparameters(self.optimizer, dict(self.hparams))
        except TypeError as error:  # a value of the wrong type (rho: "x") fails a comparison inside the optimizer
            raise ValueError(f"a value of the wrong type in {dict(self.hparams)} ({error})") from None
        return self

    @model_validator(mode="after")
    def _micro_batches_hold_two_examples(self) -> TrialConfig:
        if self.batch_size // self.accumulate < 2:
            raise ValueError(
                f"accumulate: {self.accumulate} micro-batches of batch_size {self.batch_size} leave fewer than 2 "
                "examples each; lower accumulate or raise batch_size"
            )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return drop_defaults(handler(self))

    def optimizer_kwargs(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
            "base": self.base,
        }
