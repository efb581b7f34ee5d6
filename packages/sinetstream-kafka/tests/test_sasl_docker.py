"""SASL against the docker-compose Kafka (apache/kafka, repository docker-compose.yml).

No Kafka-protocol broker installable without Docker offers SASL, so these tests
run only where a Docker engine is available and ``SINETSTREAM_DOCKER=1`` is set
(run ``docker compose up -d kafka`` first, or let pytest-docker do it). The
listener ``localhost:9093`` is SASL_PLAINTEXT with PLAIN users ``admin`` /
``alice`` and SCRAM-SHA-256/512 (the SCRAM credentials are created here through
the admin API). Elsewhere they are skipped; the parameter mapping is covered
without a broker in test_params.py, and a refused SASL handshake in
test_plugin.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from typing import Any

import pytest
from sinetstream.error import AuthenticationError
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_kafka import KafkaReader, KafkaWriter

from .conftest import kafka_answers

pytestmark = [pytest.mark.kafka, pytest.mark.docker]

V3 = ConfigVersion(3)
SASL_BROKERS = os.environ.get("SINETSTREAM_KAFKA_SASL_BROKERS", "localhost:9093")
ADMIN = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
         "sasl_plain_username": "admin", "sasl_plain_password": "admin-secret"}  # fmt: skip


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="module")
def sasl_kafka() -> str:
    """``host:port`` of the compose Kafka's SASL listener, with SCRAM users created."""
    if os.environ.get("SINETSTREAM_DOCKER") != "1":
        pytest.skip("set SINETSTREAM_DOCKER=1 to run the docker-compose SASL tests")
    if not _docker_engine():
        pytest.skip("no Docker engine: the SASL tests need the docker-compose Kafka")
    host, _, port = SASL_BROKERS.rpartition(":")
    deadline = time.monotonic() + 120
    while not kafka_answers(host, int(port)):
        if time.monotonic() > deadline:
            pytest.fail(f"docker-compose Kafka not answering on {SASL_BROKERS}")
        time.sleep(1)
    from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion

    admin = KafkaAdminClient(bootstrap_servers=SASL_BROKERS, **ADMIN)
    try:
        admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("alice", "SCRAM-SHA-256", "alice-secret"),
            UserScramCredentialUpsertion("alice", "SCRAM-SHA-512", "alice-secret"),
        ])  # fmt: skip
    finally:
        admin.close()
    return SASL_BROKERS


def _spec(mechanism: str, password: Any) -> dict[str, Any]:
    return {"sasl_mechanism": mechanism, "sasl_plain_username": b"alice",
            "sasl_plain_password": password, "group_id": None,
            "bootstrap_timeout_ms": 5000}  # fmt: skip


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_round_trip(sasl_kafka: str, mechanism: str) -> None:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    spec = _spec(mechanism, b"alice-secret")  # bytes, as decrypted secrets arrive
    common = {"type": "kafka", "brokers": sasl_kafka, "consistency": "AT_LEAST_ONCE",
              "client_id": "sasl", "type_spec": spec}  # fmt: skip
    w = KafkaWriter(V3, {**common, "topic": topic})
    w.open()
    try:
        w.publish(PluginMessage(b"create", 1))
        r = KafkaReader(V3, {**common, "topics": [topic], "receive_timeout_ms": 5000.0})
        r.open()
        try:
            w.publish(PluginMessage(b"authenticated", 1))
            assert next(iter(r))[0] == b"authenticated"
        finally:
            r.close()
    finally:
        w.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_bad_password_is_authentication_error(sasl_kafka: str, mechanism: str) -> None:
    params = {"type": "kafka", "brokers": sasl_kafka, "topic": "never", "client_id": "bad",
              "type_spec": _spec(mechanism, "wrong-password")}  # fmt: skip
    with pytest.raises(AuthenticationError) as info:
        KafkaWriter(V3, params).open()
    assert "wrong-password" not in str(info.value)
