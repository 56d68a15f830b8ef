"""The embedded Ray's token file is made once, atomically, however many studies start their first Ray at once."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import pytest

from pipeline.study.ray_cluster import ensure_auth_token


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    return tmp_path


def test_a_missing_token_is_made_and_an_existing_one_kept(home: Path) -> None:
    ensure_auth_token()
    token = (home / ".ray" / "auth_token").read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    ensure_auth_token()
    assert (home / ".ray" / "auth_token").read_text() == token
    assert [p.name for p in (home / ".ray").iterdir()] == ["auth_token"]  # no draft left behind


def test_a_token_set_elsewhere_makes_no_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(home / "mine"))
    ensure_auth_token()
    assert not (home / ".ray").exists()


def _make_and_read(_: int) -> str:
    ensure_auth_token()
    return (Path.home() / ".ray" / "auth_token").read_text()


def test_processes_racing_to_make_it_all_read_the_same_token(home: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        tokens = pool.map(_make_and_read, range(16))
    assert len(set(tokens)) == 1
