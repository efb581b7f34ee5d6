"""SASL against a real Apache Kafka: the docker-compose one (repository docker-compose.yml).

These run only where a Docker engine is available: ``nox -s docker`` sets
``SINETSTREAM_DOCKER=1`` and installs pytest-docker, which writes the TLS files
(``docker/kafka_secrets.py``), brings the compose Kafka up (``up --wait``) and
takes it down with its volumes afterwards. Elsewhere they are skipped; SASL is
then covered by test_sasl.py (kafka-python's SASL exchanges against a test
relay that implements the broker side of PLAIN and SCRAM in front of Tansu),
the parameter mapping in test_params.py and a refused handshake in
test_plugin.py.

Listeners: ``localhost:9093`` SASL_PLAINTEXT and ``localhost:9094`` SASL_SSL
(certificate for localhost from the test CA), each with PLAIN users ``admin`` /
``alice`` and SCRAM-SHA-256/512 (alice's SCRAM credentials are created here
through the admin API).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sinetstream.error import (
    AuthenticationError,
    ConnectionError,  # noqa: A004
)
from sinetstream.spi import ConfigVersion
from sinetstream.testing.tls import make_certificates
from sinetstream_kafka import KafkaWriter

from .conftest import kafka_answers
from .test_sasl import _params as sasl_params
from .test_sasl import _round_trip as round_trip

pytestmark = [pytest.mark.kafka, pytest.mark.docker]

V3 = ConfigVersion(3)
REPO = Path(__file__).resolve().parents[3]
SASL_PLAINTEXT = "localhost:9093"
SASL_SSL = "localhost:9094"
ADMIN = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
         "sasl_plain_username": "admin", "sasl_plain_password": "admin-secret"}  # fmt: skip


def _secrets_module() -> Any:
    spec = importlib.util.spec_from_file_location("kafka_secrets", REPO / "docker/kafka_secrets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# pytest-docker's fixtures, pointed at the repository's compose file.
@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(REPO / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    _secrets_module().write_secrets()  # the Kafka service refuses to start without them
    return ["up --wait kafka"]


@pytest.fixture(scope="module")
def compose_kafka(request: pytest.FixtureRequest) -> Path:
    """The compose Kafka up, alice's SCRAM credentials created; returns the CA file."""
    if os.environ.get("SINETSTREAM_DOCKER") != "1":
        pytest.skip("set SINETSTREAM_DOCKER=1 (nox -s docker) to run the docker-compose tests")
    if not _docker_engine():
        pytest.skip("no Docker engine: the docker-compose tests need one")
    services = request.getfixturevalue("docker_services")  # pytest-docker: compose up
    host, _, port = SASL_PLAINTEXT.rpartition(":")
    services.wait_until_responsive(lambda: kafka_answers(host, int(port)), timeout=120, pause=1)
    from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion

    admin = KafkaAdminClient(bootstrap_servers=SASL_PLAINTEXT, **ADMIN)
    try:
        admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("alice", "SCRAM-SHA-256", "alice-secret"),
            UserScramCredentialUpsertion("alice", "SCRAM-SHA-512", "alice-secret"),
        ])  # fmt: skip
    finally:
        admin.close()
    ca: Path = _secrets_module().SECRETS / "ca.pem"
    return ca


def _params(brokers: str, ca: Path | None, mechanism: str, password: Any) -> dict[str, Any]:
    """alice's params for ``brokers``; with ``ca`` the listener is SASL_SSL."""
    tls = None if ca is None else {"ca_certs": str(ca)}
    # bytes user name, as decrypted secrets arrive
    return sasl_params(brokers, tls, mechanism, b"alice", password, bootstrap_timeout_ms=5000)


LISTENERS = [pytest.param(SASL_PLAINTEXT, False, id="sasl_plaintext"),
             pytest.param(SASL_SSL, True, id="sasl_ssl")]  # fmt: skip


@pytest.mark.parametrize(("brokers", "tls"), LISTENERS)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_round_trip(compose_kafka: Path, brokers: str, tls: bool, mechanism: str) -> None:
    params = _params(brokers, compose_kafka if tls else None, mechanism, b"alice-secret")
    assert round_trip(params) == b"authenticated"


@pytest.mark.parametrize(("brokers", "tls"), LISTENERS)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_bad_password_is_authentication_error(
    compose_kafka: Path, brokers: str, tls: bool, mechanism: str
) -> None:
    params = {**_params(brokers, compose_kafka if tls else None, mechanism, "wrong-password"),
              "topic": "never", "client_id": "bad"}  # fmt: skip
    with pytest.raises(AuthenticationError) as info:
        KafkaWriter(V3, params).open()
    assert "wrong-password" not in str(info.value)


def test_sasl_ssl_checks_the_brokers_certificate(compose_kafka: Path, tmp_path: Path) -> None:
    other = make_certificates(tmp_path).other_ca  # a CA that did not sign the broker's
    params = {**_params(SASL_SSL, other, "PLAIN", "alice-secret"), "topic": "never"}
    with pytest.raises(ConnectionError):
        KafkaWriter(V3, params).open()
