"""Smoke test of the optimizer-overhead benchmark (pipeline.bench.optimizers) in quick mode (no timing targets
asserted)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import pytest
import torch

from pipeline.bench import optimizers as ob
from pipeline.optim import bn_update_once_per_step, create_optimizer, list_optimizers, passes_per_step
from pipeline.optim.xsam import DEFAULT_ALPHA_GRID


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    path = tmp_path_factory.mktemp("bench") / "nested" / "overhead.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        # One thread: the smoke test must not stall when other processes share the CPU.
        rc = ob.main(["--quick", "--device", "cpu", "--threads", "1", "--json", str(path)])
    assert rc == 0
    return out.getvalue(), json.loads(path.read_text())


def test_every_registry_name_appears_for_every_model(quick_run: tuple[str, dict]) -> None:
    _, data = quick_run
    models = [m["name"] for m in data["models"]]
    assert models == ["mlp", "cnn", "deep"]
    for model in models:
        labels = {r["optimizer"] for r in data["rows"] if r["model"] == model}
        assert set(list_optimizers()) <= labels
        assert ob.XSAM_SEARCH_LABEL in labels
        assert ob.LOOP_SAM_LABEL in labels


def test_the_recipe_rows_take_the_steps_of_their_rule(quick_run: tuple[str, dict]) -> None:
    """SGD and SAM under fp16, and SAM in 4 micro-batches: each row's final loss is its fp32 whole-batch rule's
    (accumulation up to float rounding where there is no BatchNorm, fp16 up to its precision), so each times the
    same work."""
    _, data = quick_run
    for model in ("mlp", "cnn", "deep"):
        loss = {r["optimizer"]: r["final_loss"] for r in data["rows"] if r["model"] == model}
        if model == "mlp":  # the others have BatchNorm, whose statistics are then each micro-batch's
            assert loss["sam [accumulate 4]"] == pytest.approx(loss["sam"], rel=1e-4)
        assert loss["sam [fp16]"] == pytest.approx(loss["sam"], rel=0.02)
        assert loss["sgd [fp16]"] == pytest.approx(loss["sgd"], rel=0.02)
        recipes = [r for r in data["rows"] if r["model"] == model and r["kind"] == "recipe"]
        assert len(recipes) == 3 and not any(r["target_applies"] for r in recipes)


def test_passes_match_the_registry(quick_run: tuple[str, dict]) -> None:
    _, data = quick_run
    for row in data["rows"]:
        if row["registry_name"] is None:
            assert row["passes"] == 2  # the loop SAM
        else:
            assert row["passes"] == pytest.approx(passes_per_step(row["registry_name"]))
        assert row["forward_probes"] == (len(DEFAULT_ALPHA_GRID) if row["kind"] == "search" else 0)


def test_ratios_are_finite_and_positive(quick_run: tuple[str, dict]) -> None:
    _, data = quick_run
    for row in data["rows"]:
        for key in ("step_ms", "sgd_ms", "ratio", "ratio_per_pass", "final_loss"):
            value = row[key]
            assert value is not None and math.isfinite(value), (row["model"], row["optimizer"], key)
        assert row["step_ms"] > 0 and row["ratio"] > 0 and row["ratio_per_pass"] > 0
        assert row["ratio_per_pass"] == pytest.approx(row["ratio"] / row["passes"])
        assert row["n_steps"] == data["meta"]["steps"]
        if row["optimizer"] == "sgd":
            assert row["ratio"] == 1.0
        # The target applies to everything but XSAM search steps and the reference loop SAM.
        assert row["target_applies"] == (row["kind"] in ("baseline", "ordinary"))
        assert (row["meets_target"] is None) == (not row["target_applies"])


def test_loop_sam_speedup_is_reported(quick_run: tuple[str, dict]) -> None:
    text, data = quick_run
    assert [c["model"] for c in data["loop_sam"]] == ["mlp", "cnn", "deep"]
    for c in data["loop_sam"]:
        assert c["speedup"] > 0 and math.isfinite(c["speedup"])
        assert c["speedup"] == pytest.approx(c["loop_sam_ms"] / c["sam_ms"])
    assert "speed-up" in text
    for name in list_optimizers():
        assert f"| {name} |" in text


def test_loop_sam_takes_the_same_step_as_our_sam() -> None:
    """The yardstick must do the same work as our SAM, BatchNorm handling included."""
    spec = ob.bench_models(quick=True)["cnn"]
    base = ob.build_model(spec, torch.device("cpu"), torch.Generator().manual_seed(3))
    data_gen = torch.Generator().manual_seed(4)
    x = torch.randn((spec.batch_size, *spec.input_shape), generator=data_gen)
    y = torch.randint(0, spec.n_classes, (spec.batch_size,), generator=data_gen)

    def stepped(make) -> torch.nn.Module:
        model = copy.deepcopy(base)
        opt = make(model)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            if torch.is_grad_enabled():
                loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        return model

    def ours(model: torch.nn.Module) -> torch.optim.Optimizer:
        opt = create_optimizer("sam", model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, rho=0.05)
        bn_update_once_per_step(opt, model)
        return opt

    def loop(model: torch.nn.Module) -> torch.optim.Optimizer:
        sgd = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        return ob.LoopSAM(sgd, model, rho=0.05)

    a, b = stepped(ours).state_dict(), stepped(loop).state_dict()
    assert a.keys() == b.keys()
    for name in a:
        if name.endswith("num_batches_tracked"):
            continue  # the reference's momentum-0 trick still counts the extra pass; ours does not
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)


def test_bad_arguments_are_rejected() -> None:
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        ob.main(["--quick", "--models", "mlp,nope"])
    with pytest.raises(ValueError, match="unknown benchmark model"):
        ob.run_overhead_benchmark(["nope"], quick=True)
