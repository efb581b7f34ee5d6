"""End to end through the public sinetstream API (core + this plugin's entry points)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mqtt_support import USERS, Mosquitto
from sinetstream import (
    AsyncMessageReader,
    AsyncMessageWriter,
    AuthenticationError,
    Message,
    MessageReader,
    MessageWriter,
)

pytestmark = pytest.mark.mqtt


def test_round_trip_no_config(mosquitto: Mosquitto, topic: str) -> None:
    opts: dict[str, Any] = {"type": "mqtt", "brokers": mosquitto.broker(), "no_config": True}
    with MessageReader(None, topic, value_type="text", receive_timeout_ms=3000, **opts) as reader:
        with MessageWriter(None, topic, value_type="text", **opts) as writer:
            writer.publish("hello", timestamp=1.5)
        messages = list(reader)
    assert [(m.value, m.topic, m.timestamp) for m in messages] == [("hello", topic, 1.5)]
    assert messages[0].raw.payload[:4] == b"\xdf\x03\x00\x00"


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_v2_setter_names_and_v3_type_spec(
    mosquitto: Mosquitto, topic: str, tmp_path: Path
) -> None:
    v2 = write_config(
        tmp_path / "v2.yml",
        f"""\
header:
  version: 2
config:
  svc:
    type: mqtt
    brokers: {mosquitto.broker("auth")}
    consistency: AT_LEAST_ONCE
    protocol: MQTTv5
    username_pw_set:
      username: alice
      password: {USERS["alice"]}
    max_inflight_messages_set:
      inflight: 5
""",
    )
    v3 = write_config(
        tmp_path / "v3.yml",
        f"""\
header:
  version: 3
config:
  svc:
    type: mqtt
    brokers: {mosquitto.broker("auth")}
    consistency: EXACTLY_ONCE
    type_spec:
      protocol: MQTTv311
      username_pw:
        username: alice
        password: {USERS["alice"]}
""",
    )
    with MessageReader("svc", topic, config_file=str(v3), receive_timeout_ms=3000) as reader:
        with MessageWriter("svc", topic, config_file=str(v2)) as writer:
            writer.publish(b"v2 to v3")
        (message,) = list(reader)
        assert reader.info("mqtt.protocol") == "MQTTv311"
    assert message.value == b"v2 to v3"
    assert message.raw.qos == 1  # min(publish QoS 1, subscription QoS 2 of EXACTLY_ONCE)
    assert writer.metrics.raw is None or isinstance(writer.metrics.raw, dict)


def test_refused_credentials_through_the_api(mosquitto: Mosquitto) -> None:
    writer = MessageWriter(
        None,
        "t",
        no_config=True,
        type="mqtt",
        brokers=mosquitto.broker("auth"),
        type_spec={"username_pw": {"username": "alice", "password": "nope"}},
    )
    with pytest.raises(AuthenticationError):
        writer.open()


def test_will_read_by_a_reader(mosquitto: Mosquitto, topic: str) -> None:
    import socket

    will_topic = f"{topic}/status"
    opts: dict[str, Any] = {"type": "mqtt", "brokers": mosquitto.broker(), "no_config": True}
    spec = {"will": {"topic": will_topic, "payload": "offline", "value_type": "text", "qos": 1}}
    with MessageReader(
        None,
        will_topic,
        value_type="text",
        receive_timeout_ms=3000,
        consistency="AT_LEAST_ONCE",
        **opts,
    ) as reader:
        writer = MessageWriter(None, topic, type_spec=spec, **opts)
        with writer:
            plugin = writer._plugin
            sock = plugin._client.socket()
            sock.shutdown(socket.SHUT_RDWR)  # die without DISCONNECT
            messages = []
            for m in reader:
                messages.append(m)
                break
    assert [(m.value, m.timestamp_us) for m in messages] == [("offline", 0)]


def test_auth_data_reaches_the_plugin_as_bytes(mosquitto: Mosquitto) -> None:
    writer = MessageWriter(
        None,
        "t",
        no_config=True,
        type="mqtt",
        brokers=mosquitto.broker(),
        type_spec={"protocol": "MQTTv5", "auth_method": "X-TEST", "auth_data": b"\x01\x02"},
    )
    settings = writer._plugin._settings
    assert settings.build_connect_properties().AuthenticationData == b"\x01\x02"
    # Mosquitto knows no X-TEST method: the CONNACK refusal is an AuthenticationError.
    with pytest.raises(AuthenticationError, match="authentication method"):
        writer.open()


def test_async_writer_and_reader(mosquitto: Mosquitto, topic: str) -> None:
    opts: dict[str, Any] = {
        "type": "mqtt",
        "brokers": mosquitto.broker(),
        "no_config": True,
        "consistency": "AT_LEAST_ONCE",
    }
    got: list[Message] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def on_message(message: Message) -> None:
        got.append(message)
        if len(got) == 50:
            done.set()

    reader = AsyncMessageReader(None, topic, **opts)
    reader.on_message = on_message
    reader.on_failure = lambda exc, tb: failures.append(exc)
    with reader:
        with AsyncMessageWriter(None, topic, **opts) as writer:
            promises = [writer.publish(b"%d" % i) for i in range(50)]
            infos = [p.get(10) for p in promises]
        assert all(info.is_published() for info in infos)
        assert done.wait(10)
    assert sorted(int(m.value) for m in got) == list(range(50))
    assert failures == []
    assert reader.metrics.msg_count_total == 50


def test_sync_writer_throughput_is_not_far_from_raw_paho(mosquitto: Mosquitto, topic: str) -> None:
    # A smoke check of the hot path, not a benchmark: 1 KiB at QoS 1 with
    # wait_for_publish, ours against raw paho on the same broker.
    import paho.mqtt.client as mqtt

    payload = b"x" * 1024
    n = 1500
    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    raw.connect("127.0.0.1", mosquitto.ports["plain"])
    raw.loop_start()
    try:
        start = time.perf_counter()
        for _ in range(n):
            raw.publish(topic, payload, 1).wait_for_publish()
        raw_rate = n / (time.perf_counter() - start)
    finally:
        raw.disconnect()
        raw.loop_stop()
    opts: dict[str, Any] = {"type": "mqtt", "brokers": mosquitto.broker(), "no_config": True}
    with MessageWriter(None, topic, consistency="AT_LEAST_ONCE", **opts) as writer:
        start = time.perf_counter()
        for _ in range(n):
            writer.publish(payload)
        ours = n / (time.perf_counter() - start)
    print(f"sync QoS 1 1 KiB: raw paho {raw_rate:.0f}/s, sinetstream {ours:.0f}/s")
    assert ours > 0.5 * raw_rate  # loose: shared 2-core machine
