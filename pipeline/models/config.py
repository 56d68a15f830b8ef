"""ModelConfig: which architecture to build and its size, validated when the study is read."""

from __future__ import annotations

import difflib
import json
from typing import Any, Literal, get_args

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.models.presets import PRESETS
from pipeline.references import FactoryArgs, FactoryReference, TakesFactory

ModelName = Literal["mlp", "cnn1d", "resnet18", "wrn", "factory"]
FACTORY = "factory"  # the name of a model a user's factory builds (``factory: module:attr``)
PresetName = Literal["mpsam_mlp", "mnist1d_mlp", "mnist1d_cnn"]


class ModelConfig(TakesFactory):
    """An architecture by name plus the fields that size it; fields another architecture uses are ignored.

    ``preset`` fills ``name`` and the fields it defines unless they were given explicitly (explicit
    fields win; a ``name`` that contradicts the preset is an error). See ``pipeline.models.presets``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ModelName = "mlp"
    preset: PresetName | None = None
    hidden: tuple[int, ...] = (256, 256)  # mlp hidden widths; () is logistic regression
    dropout: float = 0.0  # mlp: after each hidden activation; wrn: between a block's two convolutions
    batchnorm: bool = False  # mlp: BatchNorm1d after each hidden Linear
    residual: bool = False  # mlp: each hidden layer after the first adds its input (MNIST-1D's MLP)
    channels: int = 25  # cnn1d channels per conv layer
    depth: int = 16  # wrn depth, 6n + 4
    width: int = 8  # wrn widen factor
    # A user's model: ``module:attr``, called as fn(input_shape=..., num_classes=..., **args) -> nn.Module.
    factory: FactoryReference = None
    args: FactoryArgs = Field(default_factory=dict)

    @model_validator(mode="after")
    def _factory_alone(self) -> ModelConfig:
        if (self.name == FACTORY) != (self.factory is not None):
            raise ValueError("name: factory needs factory: module:attr, and a factory needs no other name; remove name")
        if self.factory is None and self.args:
            raise ValueError("args are the arguments of a model factory; set factory: module:attr, or remove args")
        if self.factory is not None and self.preset is not None:
            raise ValueError("preset builds a built-in model; remove it beside a factory")
        return self

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("preset"), str) or data["preset"] not in PRESETS:
            return data  # an unknown preset (or not a string: a list is unhashable) is left for the Literal check
        preset = PRESETS[data["preset"]]
        name = data.get("name", preset["name"])
        # Another model contradicts the preset; a misspelt name is left to the name check, which offers the nearest.
        if name != preset["name"] and name in get_args(ModelName):
            raise ValueError(
                f"name={data['name']!r} contradicts preset={data['preset']!r}, which builds a {preset['name']!r}"
            )
        return {**preset, **data}

    @field_validator("name", "preset", mode="before")
    @classmethod
    def _known_name(cls, value: Any, info: ValidationInfo) -> Any:
        is_name = info.field_name == "name"
        valid = [n for n in get_args(ModelName if is_name else PresetName) if n != FACTORY]
        if isinstance(value, str) and value not in valid and not (is_name and value == FACTORY):
            close = difflib.get_close_matches(value, valid, n=1)  # not a string (or None): left to the type check
            hint = f"; did you mean {close[0]!r}?" if close else ""
            what = "model" if is_name else "preset"
            names = ", ".join(map(repr, valid[:-1])) + f" or {valid[-1]!r}"
            own = " (or factory: module:attr for your own)" if is_name else ""
            raise ValueError(f"unknown {what} {value!r}; valid names: {names}{own}{hint}")
        return value

    def __hash__(self) -> int:  # args is a dict: hash the settings as JSON
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))

    @field_validator("hidden")
    @classmethod
    def _hidden_widths_positive(cls, hidden: tuple[int, ...]) -> tuple[int, ...]:
        if any(w < 1 for w in hidden):
            raise ValueError(f"hidden widths must be >= 1, got hidden={hidden}")
        return hidden

    @field_validator("dropout")
    @classmethod
    def _dropout_in_unit_interval(cls, dropout: float) -> float:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got dropout={dropout}")
        return dropout

    @field_validator("channels", "width")
    @classmethod
    def _positive(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError(f"{info.field_name} must be >= 1, got {info.field_name}={value}")
        return value

    @field_validator("depth")
    @classmethod
    def _depth_is_6n_plus_4(cls, depth: int) -> int:
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got depth={depth}")
        return depth

    @model_validator(mode="after")
    def _residual_needs_equal_widths(self) -> ModelConfig:
        # A skip connection adds a layer's input to its output, so those widths must agree.
        if self.residual and (len(self.hidden) < 2 or len(set(self.hidden)) != 1):
            raise ValueError(
                f"residual=True needs at least two equal hidden widths (e.g. (100, 100)), got hidden={self.hidden}"
            )
        return self
