"""Ray Train: the only module that imports it. A data-parallel trial (``workers_per_trial > 1``).

The Tune trial function starts a ``TorchTrainer`` (Train V2) with one worker per device: NCCL on GPUs, gloo
on CPUs. Every worker runs the same planned trial on its slice of each global batch under DDP
(``pipeline.train.data_parallel``); every worker calls ``ray.train.report`` each epoch, and Ray Train's
``TuneReportCallback`` hands rank 0's reports to the Tune trial, so ASHA, the searcher and the driver see
a data-parallel trial exactly as a one-process one. A worker failure fails the trial, which Tune retries
(``retries``); each worker then resumes from its own epoch checkpoint.
"""

from __future__ import annotations

from typing import Any

import ray
import ray.train
import torch
from ray.train import FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer, get_device

from pipeline.results.trial_contract import TrialPlan
from pipeline.study.ray_cluster import node_label
from pipeline.study.trial_process import run_planned_trial
from pipeline.train.data_parallel import DataParallel


def run_data_parallel(plan: TrialPlan, report_to_tune: Any) -> None:
    """Run ``plan`` on ``plan.workers`` Ray Train workers from inside a Tune trial; blocks until they finish.
    ``report_to_tune``: the Tune trial's ``TuneReportCallback``, which hands rank 0's reports to Tune."""
    use_gpu = plan.gpu_per_worker > 0
    resources = {"CPU": plan.cpu_per_worker, **({"GPU": plan.gpu_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        _worker,
        train_loop_config=plan.to_tune(),
        scaling_config=ScalingConfig(num_workers=plan.workers, use_gpu=use_gpu, resources_per_worker=resources),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            name=f"{plan.study}-{plan.key.replace('/', '_')}",
            storage_path=plan.train_storage,
            failure_config=FailureConfig(max_failures=0),  # Tune retries the whole trial, from checkpoints
            callbacks=[report_to_tune],
        ),
    )
    trainer.fit()


def _worker(config: dict[str, Any]) -> None:
    plan = TrialPlan.from_tune(config)
    torch.set_num_threads(max(1, int(plan.cpu_per_worker)))
    parallel = DataParallel.from_process_group(plan.config.perturbation)
    context = ray.train.get_context()
    node = f"{node_label()} ({context.get_world_size()} workers; rank 0 here)"
    run_planned_trial(plan, ray.train.report, node, parallel, get_device())
