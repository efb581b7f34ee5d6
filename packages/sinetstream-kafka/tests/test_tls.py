"""TLS through a real TLS-terminating relay in front of Tansu (client certificate required).

Tansu advertises the relay's port, so every broker connection of the client is
TLS: the client's CA, certificate and hostname checks run for real.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sinetstream.error import ConnectionError  # noqa: A004
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_kafka import KafkaReader, KafkaWriter

pytestmark = pytest.mark.kafka

V3 = ConfigVersion(3)


def _params(brokers: str, tls: Any, **kw: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": brokers, "client_id": f"tls-{uuid.uuid4().hex[:6]}",
            "consistency": "AT_LEAST_ONCE", "tls": tls,
            "type_spec": {"bootstrap_timeout_ms": 1500, "group_id": None}, **kw}  # fmt: skip


def test_tls_with_client_certificate(tls_kafka: str, certs: Any) -> None:
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    tls = {"ca_certs": str(certs.ca), "certfile": str(certs.client_cert),
           "keyfile": str(certs.client_key), "check_hostname": True}  # fmt: skip
    w = KafkaWriter(V3, _params(tls_kafka, tls, topic=topic))
    w.open()
    try:
        w.publish(PluginMessage(b"created", 1))
        r = KafkaReader(V3, _params(tls_kafka, tls, topics=[topic], receive_timeout_ms=3000.0))
        r.open()
        try:
            w.publish(PluginMessage(b"over tls", 1))
            got = next(iter(r))
        finally:
            r.close()
    finally:
        w.close()
    assert got[0] == b"over tls"
    assert got[1] == topic


@pytest.mark.parametrize("case", ["wrong CA", "no client certificate", "plaintext client"])
def test_tls_failures_give_connection_error(tls_kafka: str, certs: Any, case: str) -> None:
    tls: Any
    if case == "wrong CA":
        tls = {"ca_certs": str(certs.other_ca), "certfile": str(certs.client_cert),
               "keyfile": str(certs.client_key)}  # fmt: skip
    elif case == "no client certificate":
        tls = {"ca_certs": str(certs.ca)}
    else:
        tls = None
    w = KafkaWriter(V3, _params(tls_kafka, tls, topic="never"))
    start = time.monotonic()
    with pytest.raises(ConnectionError) as info:
        w.open()
    assert time.monotonic() - start < 5
    assert "answered within" in str(info.value)
    if case == "wrong CA":
        assert "certificate verify failed" in str(info.value)  # the cause is named
