"""Ray Tune: the only module that imports it.

Two kinds of Tune run make a study:
- ``run_searches``: the tuning phase. One Tuner runs every tuned method's Optuna search at once, so the
  workers stay busy: ``_BatchSearches`` hands each new trial to a search whose next batch is ready, and
  each search suggests with a seeded TPE sampler that maximises validation accuracy, in batches whose
  suggestions do not depend on completion order (``batch_search``). A search resumed from the trials table
  gets its finished trials back by index, so it suggests what an uninterrupted search would have.
- ``run_plans``: a fixed list of trials (the evaluation grid, method x seed).

Every trial runs ``_trial_function`` in a Ray worker: ``run_trial`` with per-epoch ``tune.report`` and
MLflow logging. The driver's ``_Recorder`` callback turns each finished trial into a trials-table row
the moment it finishes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import Searcher

from pipeline.study.batch_search import Batches, suggest
from pipeline.study.plan import TrialPlan
from pipeline.study.trial_process import METRIC, run_planned_trial

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ cluster


class ClusterError(RuntimeError):
    """The Ray cluster named by --address cannot be reached."""

    @classmethod
    def unreachable(cls, address: str, error: BaseException) -> ClusterError:
        return cls(
            f"cannot connect to the Ray cluster at --address {address} ({error}); start it with "
            "`ray start --head`, or use --address auto on a node of the cluster"
        )


@dataclass(frozen=True)
class Cluster:
    nodes: int
    cpus: float
    gpus: float
    address: str  # "local" for an embedded instance


def start_ray(address: str | None) -> Cluster:
    """Connect to ``address`` (``auto``, ``ray://...``, ``host:port``) or start an embedded local Ray
    with this machine's CPUs, listening on loopback only."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Ctrl-C must stop the study even when it lands as a phase's last trial ends: Tune's own handler only ends
    # the phase, which then looks complete. Python's KeyboardInterrupt reaches the driver, which keeps every
    # recorded trial and exits 130.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    if address is None:
        # The embedded Ray always authenticates: without RAY_AUTH_MODE (an opt-out left in the environment is
        # dropped), ray.init turns token authentication on for a new local Ray and makes ~/.ray/auth_token if missing.
        if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token":
            del os.environ["RAY_AUTH_MODE"]
        with _single_machine():
            ray.init(
                # "local": a new instance even when `ray start` left a cluster running on this machine, which a
                # bare ray.init() would join (its trials would then land on that cluster's nodes).
                address="local",
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
    else:
        _check_reachable(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except ConnectionError as error:
            raise ClusterError.unreachable(address, error) from None
    resources = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return Cluster(nodes, resources.get("CPU", 0.0), resources.get("GPU", 0.0), address or "local")


@contextlib.contextmanager
def _single_machine() -> Iterator[None]:
    """Ray's single-machine mode while the embedded Ray starts, so that it listens on loopback only.

    On Linux, ray.init replaces the node address 127.0.0.1 by the machine's LAN address, and its GCS, raylet, agents
    and workers then listen on every interface (0.0.0.0, ::). In single-machine mode (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER
    =0, Ray's default on macOS and Windows) the node keeps 127.0.0.1 and every server binds to loopback. The processes
    ray.init starts read the variable; this one read it at import, hence the constant too. Both are restored after:
    a later ``--address`` connection must find its node by its real address (tests/study/test_ray_security.py)."""
    from ray._private import ray_constants

    before_env = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    before = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before
        if before_env is None:
            os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
        else:
            os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = before_env


def _check_reachable(address: str) -> None:
    """A quick TCP probe of ``host:port``: ray.init would otherwise retry for minutes before failing."""
    if address == "auto" or address.startswith("ray://") or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return
    except (OSError, ValueError) as error:
        raise ClusterError.unreachable(address, error) from None


def stop_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()


# -------------------------------------------------------------------------------- inside a trial


def node_label() -> str:
    """Where this process runs: host, IP and Ray node id (several nodes may share a host and an IP)."""
    node_id = ray.get_runtime_context().get_node_id()
    return f"{socket.gethostname()}/{ray.util.get_node_ip_address()}/{node_id[:12]}"


def _trial_function(config: dict[str, Any]) -> None:
    plan = TrialPlan.from_dict(config["plan"])
    if plan.workers > 1:
        # Imported here: only data-parallel trials need Ray Train. Rank 0's reports reach Tune through it.
        from pipeline.study import ray_train

        ray_train.run_data_parallel(plan)
        return
    torch.set_num_threads(plan.threads)
    run_planned_trial(plan, tune.report, node_label())


# -------------------------------------------------------------------------------- the driver side


@dataclass
class TrialOutcome:
    """What the driver learns when a trial ends."""

    plan: TrialPlan
    status: str  # ok | diverged | failed
    result: dict[str, Any] | None  # TrialResult.to_dict(), when the trial ran to its end
    node: str | None
    mlflow_run_id: str | None
    error: str | None = None
    stopped_by_scheduler: bool = False
    last_epoch: dict[str, Any] = field(default_factory=dict)


class _Recorder(tune.Callback):
    def __init__(self, on_outcome: Callable[[TrialOutcome], None]) -> None:
        self.on_outcome = on_outcome

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        plan = TrialPlan.from_dict(trial.config["plan"])
        last = dict(trial.last_result or {})
        if last.get("final"):
            result = json.loads(last["result_json"])
            outcome = TrialOutcome(
                plan,
                result["status"],
                result,
                last.get("node"),
                last.get("mlflow_run_id"),
            )
        else:  # the scheduler stopped it between epochs: its last epoch is all there is
            outcome = TrialOutcome(
                plan,
                "ok",
                None,
                None,
                last.get("mlflow_run_id"),
                stopped_by_scheduler=True,
                last_epoch=last,
            )
        self.on_outcome(outcome)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        plan = TrialPlan.from_dict(trial.config["plan"])
        last = dict(trial.last_result or {})
        outcome = TrialOutcome(
            plan,
            "failed",
            None,
            None,
            last.get("mlflow_run_id"),
            error=_error_text(trial),
            last_epoch=last,
        )
        self.on_outcome(outcome)


def _error_text(trial: Any) -> str:
    """The last line of the trial's error file (Ray writes the traceback as text beside a pickle)."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "the trial failed (no error text was recorded)"


@dataclass(frozen=True)
class RunSettings:
    """How the Tune runs of a study are executed."""

    storage_path: str
    name: str
    cpu: float
    gpu: float
    max_concurrent: int | None
    retries: int
    workers: int = 1  # above 1 the trial's Ray Train workers hold cpu and gpu each; the trial itself holds nothing


def _tuner(
    settings: RunSettings,
    on_outcome: Callable[[TrialOutcome], None],
    param_space: dict[str, Any],
    num_samples: int,
    search_alg: Searcher | None = None,
    scheduler: Any = None,
) -> tune.Tuner:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if settings.workers > 1:
        # Ray needs a non-empty bundle; the Train workers request the real resources (and max_concurrent,
        # set by the driver from them, keeps Tune from starting trials whose workers could not be placed).
        trial_resources = {"cpu": 0, "memory": 1}
    else:
        trial_resources = {"cpu": settings.cpu, "gpu": settings.gpu}
    trainable = tune.with_resources(_trial_function, trial_resources)
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=num_samples,
            max_concurrent_trials=settings.max_concurrent,
            reuse_actors=True,  # one worker process per slot imports torch once, not once per trial
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=f"{settings.name}-{stamp}",
            storage_path=settings.storage_path,
            failure_config=tune.FailureConfig(max_failures=settings.retries),
            callbacks=[_Recorder(on_outcome)],
            verbose=0,
        ),
    )


def _trial_name(trial: Any) -> str:
    plan = trial.config.get("plan") if trial.config else None
    key = plan["key"] if plan else trial.trial_id
    return f"{key.replace('/', '_')}_{trial.trial_id}"


def run_plans(
    plans: list[TrialPlan],
    settings: RunSettings,
    on_outcome: Callable[[TrialOutcome], None],
) -> None:
    """Run a fixed list of trials (the evaluation grid)."""
    if not plans:
        return
    space = {"plan": tune.grid_search([p.to_dict() for p in plans])}
    _tuner(settings, on_outcome, space, num_samples=1).fit()


@dataclass
class Search:
    """One Optuna search: its distributions, seed, batches, finished history, and how to plan a trial."""

    search_id: str
    space: dict[str, Any]  # optuna distributions
    seed: int
    batches: Batches
    budget: int
    history: dict[int, tuple[dict[str, Any], float | None]]  # trial index -> (params, objective or None: failed)
    make_plan: Callable[[dict[str, Any], int], TrialPlan]

    @property
    def remaining(self) -> int:
        return max(0, self.budget - len(self.history))

    def ready(self, index: int) -> bool:
        """Every trial before ``index``'s batch has finished, so its values can be suggested."""
        return all(i in self.history for i in range(self.batches.first_of_batch(index)))

    def suggest(self, index: int) -> dict[str, Any]:
        seen = [self.history[i] for i in range(self.batches.first_of_batch(index))]
        return suggest(self.space, self.seed, index, seen, self.batches.startup)


class _BatchSearches(Searcher):
    """Several searches in one Tuner. Each new Tune trial gets the lowest open index of a search whose batch is
    ready (the search with the fewest trials so far first); None tells Tune to ask again once a trial ends."""

    def __init__(self, searches: list[Search]) -> None:
        super().__init__(metric=METRIC, mode="max")
        self._searches = searches
        self._open = {s.search_id: [i for i in range(s.budget) if i not in s.history] for s in searches}
        self._owner: dict[str, tuple[Search, int, dict[str, Any]]] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: a resumed study rebuilds every search from the trials table."""

    def restore(self, checkpoint_path: str) -> None:
        """See ``save``."""

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if not any(self._open.values()):
            return Searcher.FINISHED
        ready = [s for s in self._searches if self._open[s.search_id] and s.ready(self._open[s.search_id][0])]
        if not ready:
            return None
        s = min(ready, key=lambda s: s.budget - len(self._open[s.search_id]))
        index = self._open[s.search_id].pop(0)
        params = s.suggest(index)
        self._owner[trial_id] = (s, index, params)
        return {"plan": s.make_plan(params, index).to_dict()}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id not in self._owner:
            return
        s, index, params = self._owner.pop(trial_id)
        value = None if error or not result or result.get(METRIC) is None else float(result[METRIC])
        s.history[index] = (params, value)


def run_searches(
    searches: list[Search],
    settings: RunSettings,
    on_outcome: Callable[[TrialOutcome], None],
    asha: dict[str, Any] | None,
) -> None:
    """The tuning phase: every search's remaining trials in one Tuner."""
    total = sum(s.remaining for s in searches)
    if total == 0:
        return
    scheduler = ASHAScheduler(**asha) if asha else None
    _tuner(
        settings,
        on_outcome,
        {},
        num_samples=total,
        search_alg=_BatchSearches(searches),
        scheduler=scheduler,
    ).fit()
