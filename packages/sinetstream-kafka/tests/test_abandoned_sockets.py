"""The sockets kafka-python abandons (conftest.py) end no test run.

A pytest run of its own, with this package's conftest, in which nothing is
garbage-collected before pytest's ``gc.collect()`` at exit: as in a long run whose
garbage has reached the oldest generation (issue 14: three unclosed sockets at
session teardown made the run exit 1 after every test had passed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

INNER = """
import gc
import socket

import pytest
from sinetstream import ConnectionError, MessageWriter

from conftest import Relay

gc.disable()


def refused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_writer(brokers, **extra):
    with pytest.raises(ConnectionError):
        MessageWriter(None, "never", no_config=True, type="kafka", brokers=brokers,
                      type_spec={"bootstrap_timeout_ms": 300}, **extra).open()


def test_a_refused_connection():
    open_writer(f"127.0.0.1:{refused_port()}")


def test_a_failed_tls_handshake(certs):
    relay = Relay(target=("127.0.0.1", refused_port()), ssl_context=certs.server_context())
    try:
        open_writer(f"127.0.0.1:{relay.port}", tls={"ca_certs": str(certs.other_ca)})
    finally:
        relay.close()
"""


def test_no_unclosed_socket_at_exit(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(Path(__file__).with_name("conftest.py").read_text())
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=90,
    )
    out = run.stdout + run.stderr
    assert "2 passed" in out, out
    assert "unclosed" not in out, out
    assert run.returncode == 0, out
