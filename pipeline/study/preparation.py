"""Everything a study needs settled before Ray starts: absolute paths, the dataset's files, the tracking location,
and a study folder that belongs to its spec (a folder of another spec is refused, naming what changed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pipeline._io import write_json_atomically
from pipeline.data import DatasetError, build_dataset, check_dataset
from pipeline.models import build_model, check_factory_model
from pipeline.optim import LETS, bn_update_once_per_step, create_optimizer, trainer_hyperparameters
from pipeline.provenance import user_code_digests
from pipeline.references import ReferenceProblem, add_code_folders, code_modules, study_code_folders
from pipeline.results.folder import MLFLOW_ARTIFACTS_DIR, StudyFolder
from pipeline.spec.study import MethodSpec, StudySpec, StudySpecError, recorded_comparable
from pipeline.study.errors import StudyWriteError
from pipeline.study.mlflow.secrets import redact
from pipeline.study.mlflow.uri import default_tracking_uri, is_server, resolve_tracking
from pipeline.train import TrialConfig


@dataclass
class Where:
    """Where a study runs and writes, settled before anything starts."""

    out: Path
    folder: StudyFolder
    uri: str  # without any password (it moved into the environment)
    code: tuple[Path, ...] = ()  # the folders of the study's own code, shipped to every Ray worker


def prepare(
    spec: StudySpec,
    study_file: Path,
    out_dir: str | Path | None,
    tracking_uri: str | None,
    address: str | None,
    folder: str | None,
    code_changed: bool = False,
) -> tuple[StudySpec, Where]:
    """Everything checked before Ray starts: absolute paths, the dataset's files and the study's own code, the
    tracking location, and a study folder that belongs to this spec (and, unless ``code_changed``, to its code)."""
    spec = _absolute_paths(spec)
    code = _user_code(spec, study_file)
    if code:  # spec.json then says where the study's code is, for a later reader that imports its rules
        spec = spec.model_copy(update={"code": tuple(str(folder) for folder in code)})
    _check_data(spec, study_file)
    _check_model(spec, study_file)
    _check_precision(spec, study_file)
    out = Path(out_dir if out_dir is not None else spec.output.dir).expanduser().resolve()
    study_folder = StudyFolder(out / (folder or spec.name))
    # A password in the URI moves into the environment here: from now on the URI may be printed and recorded.
    uri = resolve_tracking(tracking_uri or spec.output.tracking_uri or default_tracking_uri(out), address)
    if spec.output.tracking_uri is not None:  # spec.json and the MLflow params show it as http://user:***@host
        output = spec.output.model_copy(update={"tracking_uri": redact(spec.output.tracking_uri)})
        spec = spec.model_copy(update={"output": output})
    _check_code(study_folder, code, code_changed)
    _prepare_folder(spec, study_folder)
    if code:
        write_study_file(study_folder.code, user_code_digests(code_modules(code)))
    return spec, Where(out, study_folder, uri, code)


def write_study_file(path: Path, value: Any) -> None:
    """spec.json, selection.json: whole or not at all."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, value)
    except OSError as error:
        raise StudyWriteError(f"cannot write {path}: {error}") from error


def artifact_root(where: Where) -> Path | None:
    """Where MLflow keeps artifacts for a local store (a server keeps its own)."""
    return None if is_server(where.uri) else where.out / MLFLOW_ARTIFACTS_DIR


def _absolute_paths(spec: StudySpec) -> StudySpec:
    """Ray runs trials in their own working folders: make every path in the spec absolute."""
    if spec.data.root is None:
        return spec
    data = spec.data.model_copy(update={"root": str(Path(spec.data.root).expanduser().resolve())})
    return spec.model_copy(update={"data": data})


def _user_code(spec: StudySpec, study_file: Path) -> tuple[Path, ...]:
    """The folders of a study's own code, first on this process's import path: the study file's folder and each of
    ``code:`` (read from the study file's folder). None for a study of built-in names only."""
    if not spec.uses_user_code:
        return ()
    folders = study_code_folders(study_file, spec.code)
    for index, folder in enumerate(folders[1:]):
        if not folder.is_dir():
            raise StudySpecError(f"{study_file}: code[{index}]: {folder} is not a folder; list folders of Python code")
    add_code_folders(folders)
    return tuple(dict.fromkeys(folders))


def _check_data(spec: StudySpec, study_file: Path) -> None:
    """The dataset's files, checked before the study folder or Ray exist: a missing or truncated CIFAR file would
    otherwise fail every trial, one after another, inside Ray. A data factory is called and held to its contract."""
    try:
        check_dataset(spec.data)
    except DatasetError as error:
        raise StudySpecError(f"{study_file}: data.root: {error}") from None
    except ReferenceProblem as problem:
        raise StudySpecError(f"{study_file}: data.{problem.field}: {problem}") from problem.__cause__


def _check_model(spec: StudySpec, study_file: Path) -> None:
    """A model factory, built and run forward on the study's first training examples (seed 0); then, for a study of
    its own code, one step of every method at its fixed values and at both ends of each searched range."""
    if spec.model.factory is None and not spec.uses_user_code:
        return
    data = build_dataset(spec.data, seed=0)
    batch = data.train.x[:8], data.train.y[:8]
    if spec.model.factory is not None:
        try:
            check_factory_model(spec.model, batch[0][:4], data.num_classes, seed=0)
        except ReferenceProblem as problem:
            raise StudySpecError(f"{study_file}: model.{problem.field}: {problem}") from problem.__cause__
    for method in spec.methods:
        for field, params in _extremes(method):
            config = spec.trial_config(method, seed=0, params=params)
            try:
                _one_step(config, data.input_shape, data.num_classes, batch)
            except Exception as error:  # the user's code, named with the method and the value
                raise StudySpecError(
                    f"{study_file}: methods[{method.name}]{field}: one step on the study's own data raised {error!r}"
                ) from error


def _check_precision(spec: StudySpec, study_file: Path) -> None:
    """fp16 or bf16 on CPU trials: autocast and (fp16) the GradScaler must exist in this torch. CUDA has both;
    a GPU study's devices are on the cluster, not here."""
    precision = spec.training.precision
    if precision in ("auto", "fp32") or spec.resources.gpu > 0 or spec.device.startswith("cuda"):
        return
    try:
        with torch.autocast("cpu", dtype=torch.float16 if precision == "fp16" else torch.bfloat16):
            torch.nn.functional.linear(torch.ones(2, 2), torch.ones(2, 2))
        if precision == "fp16":
            torch.amp.GradScaler("cpu")
    except (RuntimeError, AttributeError, TypeError) as error:  # by torch version
        raise StudySpecError(
            f"{study_file}: training.precision: {precision} is not available on the CPU with torch "
            f"{torch.__version__} ({error}); use auto or fp32 here"
        ) from None


def _extremes(method: MethodSpec) -> list[tuple[str, dict[str, Any]]]:
    """The method's fixed values, then each searched value at each end of its range."""
    return [("", {})] + [(f".search.{k}", {k: v}) for k, p in method.search.items() for v in p.values()]


def _one_step(config: TrialConfig, input_shape: tuple[int, ...], classes: int, batch: tuple[Tensor, Tensor]) -> None:
    """One optimizer step of ``config`` on ``batch``, on the CPU; raises what the model or the rule raises."""
    model = build_model(config.model, input_shape, classes, seed=0)
    trainer = trainer_hyperparameters(config.optimizer, steps_per_epoch=1, generator=torch.Generator())
    optimizer = create_optimizer(
        config.optimizer, model.parameters(), **config.optimizer_kwargs(), **config.hparams, **trainer
    )
    bn_update_once_per_step(optimizer, model)

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch[0]), batch[1])
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    if isinstance(optimizer, LETS):
        optimizer.step(closure, closure)  # the batch stands in for validation data too
    else:
        optimizer.step(closure)


def _check_code(folder: StudyFolder, code: tuple[Path, ...], code_changed: bool) -> None:
    """A study folder holds the results of one version of the study's own code: a resume after a file of it changed
    is refused, naming the file, unless the user says the change is wanted (``--code-changed``)."""
    if code_changed or not folder.code.exists():
        return
    before = json.loads(folder.code.read_text())
    now = user_code_digests(code_modules(code))
    changed = sorted(f for f in set(before) | set(now) if before.get(f) != now.get(f))
    if changed:
        first = changed[0]
        what = "changed" if first in before and first in now else ("is new" if first in now else "is gone")
        more = f" (and {len(changed) - 1} more file(s))" if len(changed) > 1 else ""
        raise StudySpecError(
            f"{folder.path} holds results of other user code: {first} {what} since the study started{more}; "
            "restore it, pass a new --out, or resume with --code-changed to mix results of both versions"
        )


def _prepare_folder(spec: StudySpec, folder: StudyFolder) -> None:
    """A study folder belongs to one spec: resuming it with a different one would mix two studies.
    ``spec.json`` holds the whole spec (the report reads it); only the fields that decide results must agree."""
    current = spec.comparable_dump()
    if folder.spec.exists():
        before = recorded_comparable(json.loads(folder.spec.read_text()))
        if before != current:
            changed = sorted(k for k in set(before) | set(current) if before.get(k) != current.get(k))
            raise StudySpecError(
                f"{folder.path} holds study {spec.name!r} run with different settings ({', '.join(changed)} "
                "changed); resume it with the same study file, or pass a new --out"
            )
    write_study_file(folder.spec, spec.model_dump(mode="json"))
