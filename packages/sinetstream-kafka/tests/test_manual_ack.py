"""Manual acknowledgement of the Kafka reader: only acknowledged offsets are committed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sinetstream.error import InvalidArgumentError
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_kafka import KafkaReader, KafkaWriter

from .conftest import NOIDA_SESSION, BrokerProcess

V3 = ConfigVersion(3)


def _reader(brokers: str, topic: str, client_id: str, **spec: Any) -> KafkaReader:
    params = {
        "type": "kafka",
        "brokers": brokers,
        "topics": [topic],
        "topic": topic,
        "client_id": client_id,
        "consistency": spec.pop("consistency", "AT_LEAST_ONCE"),
        "receive_timeout_ms": 3000.0,
        "type_spec": {**NOIDA_SESSION, "group_id": True, "auto_offset_reset": "earliest", **spec},
    }
    return KafkaReader(V3, params)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"group_id": None}, "needs a consumer group"),
        ({"group_id": True, "consistency": "AT_MOST_ONCE"}, "AT_LEAST_ONCE"),
    ],
)
def test_manual_ack_needs_a_group_and_at_least_once(spec: dict[str, Any], message: str) -> None:
    reader = _reader("127.0.0.1:1", "t", "c", **spec)
    with pytest.raises(InvalidArgumentError, match=message):
        reader.enable_manual_ack()


@pytest.mark.kafka
def test_only_acknowledged_offsets_are_committed(noida: BrokerProcess) -> None:
    topic = f"t-{uuid.uuid4().hex[:12]}"
    writer = KafkaWriter(
        V3,
        {"type": "kafka", "brokers": noida.bootstrap, "topic": topic,
         "consistency": "AT_LEAST_ONCE", "type_spec": {}},
    )  # fmt: skip
    writer.open()
    for v in (b"a", b"b", b"c", b"d"):
        writer.publish(PluginMessage(v))
    writer.close()
    client_id = f"ack-{uuid.uuid4().hex[:8]}"
    reader = _reader(noida.bootstrap, topic, client_id)
    reader.enable_manual_ack()
    reader.open()
    got = []
    for item in reader:
        got.append(item)
        if len(got) == 4:
            break
    assert [p for p, _, _ in got] == [b"a", b"b", b"c", b"d"]
    reader.ack(got[0][2])
    reader.ack(got[1][2])  # "a" and "b" done; "c" and "d" read but not acknowledged
    reader.close()
    again = _reader(noida.bootstrap, topic, client_id)
    again.enable_manual_ack()
    again.open()
    rest = []
    for item in again:
        rest.append(item)
        if len(rest) == 2:
            break
    again.close()
    assert [p for p, _, _ in rest] == [b"c", b"d"]
