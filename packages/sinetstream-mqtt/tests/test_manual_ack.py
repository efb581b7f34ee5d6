"""Manual acknowledgement of the MQTT reader (the capability sinetstream.Bridge uses)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from mqtt_support import Mosquitto, spi_params
from sinetstream.error import InvalidArgumentError
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_mqtt import MqttReader, MqttWriter

V3 = ConfigVersion(3)


def _reader(broker: str, topic: str, client_id: str | None = None, **spec: Any) -> MqttReader:
    params = spi_params(broker, topics=[topic], topic=topic, receive_timeout_ms=1000.0)
    params["type_spec"] = {"persistent_session": True, **spec}
    params["client_id"] = client_id or f"ack-{uuid.uuid4().hex[:8]}"
    return MqttReader(V3, params)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"qos": 0}, "needs qos 1"),
        ({"qos": 2}, "needs qos 1"),
        ({"persistent_session": False}, "persistent session"),
    ],
)
def test_manual_ack_needs_qos_1_and_a_persistent_session(
    spec: dict[str, Any], message: str
) -> None:
    reader = _reader("127.0.0.1:1", "t", **spec)
    with pytest.raises(InvalidArgumentError, match=message):
        reader.enable_manual_ack()


@pytest.mark.mqtt
def test_unacknowledged_messages_come_again(mosquitto: Mosquitto, topic: str) -> None:
    broker = mosquitto.broker()
    client_id = f"ack-{uuid.uuid4().hex[:8]}"
    reader = _reader(broker, topic, client_id)
    reader.enable_manual_ack()
    reader.open()
    writer = MqttWriter(V3, spi_params(broker, topic=topic))
    writer.open()
    for v in (b"a", b"b", b"c"):
        writer.publish(PluginMessage(v))
    writer.close()
    got = []
    for item in reader:
        got.append(item)
        if len(got) == 3:
            break
    assert [p for p, _, _ in got] == [b"a", b"b", b"c"]
    reader.ack(got[0][2])  # PUBACK for "a" only
    time.sleep(0.2)
    reader.close()
    again = _reader(broker, topic, client_id)
    again.enable_manual_ack()
    again.open()
    redelivered = []
    for item in again:
        redelivered.append(item)
        again.ack(item[2])
        if len(redelivered) == 2:
            break
    again.close()
    assert [p for p, _, _ in redelivered] == [b"b", b"c"]
    assert all(raw.dup for _, _, raw in redelivered)
