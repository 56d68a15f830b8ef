"""The conformance kit (``pipeline.optim.conformance``, `sam-study check-optimizer`): every shipped rule passes it,
and a rule that breaks one clause of the contract fails that check."""

from __future__ import annotations

import pytest

from pipeline.cli import main
from pipeline.optim import list_optimizers, register_rule
from pipeline.optim.conformance import check_rule
from tests.optim.broken_rules import BatchNormTwice, NeverRestores, UnderDeclared


@pytest.mark.parametrize("name", list_optimizers())
def test_every_shipped_rule_keeps_the_contract(name: str) -> None:
    checks = check_rule(name)
    assert len(checks) == 9
    assert [c for c in checks if not c.ok] == []


@pytest.mark.parametrize(
    ("rule", "broken"),
    [
        (NeverRestores, "parameters clean"),
        (UnderDeclared, "declared passes"),
        (BatchNormTwice, "batchnorm once per step"),
    ],
    ids=["never-restores", "under-declares", "batchnorm-twice"],
)
def test_a_rule_that_breaks_a_clause_fails_that_check(rule: type, broken: str) -> None:
    name = f"broken-{rule.__name__.lower()}"
    register_rule(name, rule)
    failed = {c.name for c in check_rule(name) if not c.ok}
    assert broken in failed, failed


def test_check_optimizer_prints_a_line_per_check_and_exits_by_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-optimizer", "tests.optim.broken_rules:UnderDeclared"]) == 6
    out = capsys.readouterr().out
    assert "FAIL declared passes: declares 1 per step, the closure ran 2 per step" in out
    assert out.count("\n  ok   ") == 8

    assert main(["check-optimizer", "tests.optim.broken_rules:NotARule"]) == 2
    assert "NotARule is not a subclass of pipeline.optim.SAMFamilyOptimizer" in capsys.readouterr().err
    assert main(["check-optimizer", "sam"]) == 0


def test_the_example_rule_and_lets_over_it_keep_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-optimizer", "sign_sam:SignSAM", "--code", "studies/examples", "--lets"]) == 0
    out = capsys.readouterr().out
    assert "user-signsam:" in out and "lets-user-signsam:" in out and "FAIL" not in out
