"""Shared fixtures of the core tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory and home, so no real config file is picked up."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def broker_name() -> str:
    """A queue broker of its own for each test."""
    return f"core-test-{uuid.uuid4().hex}"
