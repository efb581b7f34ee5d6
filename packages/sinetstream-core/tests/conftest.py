"""Shared fixtures of the core tests."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable
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


#: ``on_terminal(argv, cwd)`` -> (exit status, stdout, what stderr's terminal showed).
TerminalRun = Callable[[list[str], Path], tuple[int, bytes, bytes]]


@pytest.fixture
def on_terminal() -> TerminalRun:
    """Run a command with its stderr on a pseudo-terminal (progress displays need one)."""
    import pty

    def run(argv: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            out, _ = proc.communicate(timeout=60)
            seen = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal closed with the process
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            os.close(master)
        return proc.returncode, out, seen

    return run
