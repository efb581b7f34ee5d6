"""Shared fixtures of the core tests."""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings


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


# Property tests: the default run keeps each test's example count; `nox -s fuzz` sets
# SINETSTREAM_HYPOTHESIS_PROFILE=fuzz and every count is multiplied by FUZZ_FACTOR.
FUZZ_FACTOR = 20
settings.register_profile("fuzz", max_examples=100 * FUZZ_FACTOR)
settings.load_profile(os.environ.get("SINETSTREAM_HYPOTHESIS_PROFILE", "default"))


def examples(n: int) -> int:
    """``n`` examples in the default run, ``n`` x FUZZ_FACTOR under the fuzz profile."""
    return max(1, n * settings().max_examples // 100)


@pytest.fixture
def quiet_sinetstream_log() -> Iterator[None]:
    """Only errors from the ``sinetstream`` logger.

    Unauthenticated cipher modes log a warning per encoder and decoder; in property
    tests that build thousands of them, those add nothing.
    """
    logger = logging.getLogger("sinetstream")
    old = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(old)
