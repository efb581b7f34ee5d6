"""Fixtures: real Mosquitto brokers on free loopback ports, with generated files.

One session broker serves five listeners (plain, password + ACL, TLS
server-only, TLS with client certificates, websockets); tests that restart
their broker get a private one with persistence on.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Test modules import the helpers as ``mqtt_support`` (pytest's importlib mode
# does not put this folder on sys.path by itself).
sys.path.insert(0, str(Path(__file__).parent))

from mqtt_support import ACL, Certs, Mosquitto, free_port, make_certs, password_file


@pytest.fixture(scope="session")
def mqtt_tmp() -> Iterator[Path]:
    """A private folder under /tmp that the mosquitto user can read.

    Not pytest's tmp_path: pytest makes /tmp/pytest-of-<user> mode 700 at the
    start of every session, so a concurrent pytest run would lock the broker
    out of its own files.
    """
    folder = Path(tempfile.mkdtemp(prefix="sinetstream-mqtt-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(mqtt_tmp: Path) -> Certs:
    """Generated CA, server and client certificates."""
    return make_certs(mqtt_tmp / "certs")


@pytest.fixture(scope="session")
def mosquitto(mqtt_tmp: Path, certs: Certs) -> Iterator[Mosquitto]:
    """A session Mosquitto with plain, auth, tls, tls_client and ws listeners."""
    folder = mqtt_tmp / "broker"
    folder.mkdir()
    passwd = password_file(folder)
    acl = folder / "acl"
    acl.write_text(ACL)
    ports = {name: free_port() for name in ("plain", "auth", "tls", "tls_client", "ws")}
    config = f"""\
per_listener_settings true
max_queued_messages 0
log_dest stdout
log_type error
log_type warning

listener {ports["plain"]} 127.0.0.1
allow_anonymous true

listener {ports["auth"]} 127.0.0.1
allow_anonymous false
password_file {passwd}
acl_file {acl}

listener {ports["tls"]} 127.0.0.1
allow_anonymous true
cafile {certs.ca}
certfile {certs.server_cert}
keyfile {certs.server_key}

listener {ports["tls_client"]} 127.0.0.1
allow_anonymous true
cafile {certs.ca}
certfile {certs.server_cert}
keyfile {certs.server_key}
require_certificate true
use_identity_as_username true

listener {ports["ws"]} 127.0.0.1
socket_domain ipv4
protocol websockets
allow_anonymous true
"""
    broker = Mosquitto(folder=folder, config=config, ports=ports, certs=certs)
    broker.start()
    yield broker
    broker.stop()


def _persistent(mqtt_tmp: Path, test_name: str, extra: str = "") -> Mosquitto:
    """A private Mosquitto with persistence on (not started yet)."""
    name = "".join(c if c.isalnum() else "_" for c in test_name[:60])
    folder = mqtt_tmp / f"persist-{name}-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    data = folder / "data"
    data.mkdir()
    port = free_port()
    config = f"""\
max_queued_messages 0
persistence true
persistence_location {data}/
autosave_interval 1
{extra}log_dest stdout
log_type error
log_type warning

listener {port} 127.0.0.1
allow_anonymous true
"""
    return Mosquitto(folder=folder, config=config, ports={"plain": port}, writable=(data,))


@pytest.fixture
def persistent_mosquitto(mqtt_tmp: Path, request: pytest.FixtureRequest) -> Iterator[Mosquitto]:
    """A private Mosquitto with persistence on, for restart tests."""
    broker = _persistent(mqtt_tmp, request.node.name)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def durable_mosquitto(mqtt_tmp: Path, request: pytest.FixtureRequest) -> Iterator[Mosquitto]:
    """A private Mosquitto that saves its persistence file after every change.

    Mosquitto acknowledges a publish before it saves; with this, a SIGKILL loses
    only what it acknowledged in the last moment before it died.
    """
    broker = _persistent(mqtt_tmp, request.node.name, "autosave_on_changes true\n")
    broker.start()
    yield broker
    broker.stop()


_seq = 0


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic no other test uses (under test/, which the ACL lets alice use)."""
    global _seq
    _seq += 1
    name = "".join(c if c.isalnum() else "_" for c in request.node.name[:40])
    return f"test/{name}/{os.getpid()}-{_seq}"
