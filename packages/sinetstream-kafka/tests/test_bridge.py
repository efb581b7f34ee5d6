"""sinetstream.Bridge between MQTT (a native Mosquitto) and Kafka (Tansu), both ways.

Outages are cut with the TCP relay of conftest.py: in front of Mosquitto for
the bridge's MQTT side (publishers go straight to the broker, which queues
for the bridge's persistent session), and as the Kafka client's CONNECT
proxy for its Kafka side.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sinetstream import AT_LEAST_ONCE, Bridge, MessageReader, MessageWriter

from .conftest import TANSU_SESSION, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.mqtt]

# The bridge runs between Kafka and MQTT: without the MQTT backend installed (a version
# matrix cell installs one plugin alone) there is nothing to bridge to.
pytest.importorskip("sinetstream_mqtt", reason="the bridge tests need sinetstream-mqtt too")

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MQTT_FAST = {"reconnect_delay": {"min_delay": 0.1, "max_delay": 0.5}}
KAFKA_FAST = {"reconnect_backoff_max_ms": 500, "request_timeout_ms": 5000, "linger_ms": 2}


@pytest.fixture
def mosquitto() -> Iterator[str]:
    """A private Mosquitto (no limit on queued messages); its ``host:port``."""
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto is not installed")
    folder = Path(tempfile.mkdtemp(prefix="bridge-mqtt-"))
    folder.chmod(0o755)  # readable by the user mosquitto drops to when started as root
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"max_queued_messages 0\nlog_dest none\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
    )
    conf.chmod(0o644)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(folder, ignore_errors=True)


def _config(path: Path, **services: dict[str, Any]) -> str:
    body = {"header": {"version": 3}, "config": services}
    path.write_text(yaml.safe_dump(body))
    return str(path)


def _mqtt_source(address: str, topic: str, **spec: Any) -> dict[str, Any]:
    return {
        "type": "mqtt",
        "brokers": address,
        "topic": topic,
        "client_id": f"bridge-{uuid.uuid4().hex[:8]}",
        "type_spec": {"persistent_session": True, **MQTT_FAST, **spec},
    }


def _kafka_dest(bootstrap: str, topic: str, **spec: Any) -> dict[str, Any]:
    return {
        "type": "kafka",
        "brokers": bootstrap,
        "topic": topic,
        "type_spec": {**KAFKA_FAST, **spec},
    }


def _kafka_source(
    bootstrap: str, topic: str, session: dict[str, int] = TANSU_SESSION, **extra: Any
) -> dict[str, Any]:
    """A Kafka service read by a bridge: its own group, from the topic's beginning."""
    return {
        "type": "kafka",
        "brokers": bootstrap,
        "topic": topic,
        "client_id": f"bridge-{uuid.uuid4().hex[:8]}",
        "type_spec": {**session, "group_id": True, "auto_offset_reset": "earliest"},
        **extra,
    }


def _mqtt_to_kafka(path: Path, mqtt: str, kafka: str, mqtt_topic: str, kafka_topic: str) -> str:
    """A config file with the services ``sensors`` (MQTT) and ``analytics`` (Kafka)."""
    return _config(
        path, sensors=_mqtt_source(mqtt, mqtt_topic), analytics=_kafka_dest(kafka, kafka_topic)
    )


def _bridge_process(cfg: str, source: str, dest: str) -> Any:
    """``start(output)``: run ``sinetstream bridge`` as a process of its own."""
    argv = [sys.executable, "-m", "sinetstream", "bridge", "--from", source, "--to", dest]
    argv += ["--config-file", cfg, "-v"]

    def start(output: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, stdout=output, stderr=output)

    return start


def _kafka_values(bootstrap: str, topic: str, want: set[bytes], timeout: float = 20) -> list[Any]:
    """Every message of ``topic`` until ``want`` was seen (or ``timeout``), with duplicates."""
    got: list[Any] = []
    spec = {"group_id": None, "auto_offset_reset": "earliest"}
    params = {"type": "kafka", "brokers": bootstrap, "type_spec": spec, "receive_timeout_ms": 500}
    deadline = time.monotonic() + timeout
    with MessageReader(None, topic, no_config=True, **params) as reader:
        while time.monotonic() < deadline:
            got.extend(reader)
            if want <= {m.value for m in got}:
                break
    return got


def _publish_mqtt(address: str, topic: str, values: list[bytes], pause: float = 0.0) -> None:
    params = {"type": "mqtt", "brokers": address, "consistency": AT_LEAST_ONCE}
    with MessageWriter(None, topic, no_config=True, **params) as writer:
        for v in values:
            writer.publish(v)
            if pause:
                time.sleep(pause)


def _wait(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_mqtt_to_kafka_wildcards_keys_and_passthrough_bytes(
    tmp_path: Path, mosquitto: str, tansu: str, make_topic: Any
) -> None:
    kafka_topic = make_topic(tansu, 2)
    cfg = _mqtt_to_kafka(tmp_path / "c.yml", mosquitto, tansu, "sensors/#", kafka_topic)
    rules = [f"sensors/+/temp=>{kafka_topic}"]
    values = {f"sensors/dev{d}/temp": [b"d%d-%d" % (d, i) for i in range(20)] for d in range(3)}
    raw_params = {"type": "mqtt", "brokers": mosquitto, "consistency": AT_LEAST_ONCE}
    raw_reader = MessageReader(
        None, "sensors/+/temp", no_config=True, receive_timeout_ms=3000, **raw_params
    )
    bridge = Bridge("sensors", "analytics", config_file=cfg, topic_map=rules)
    with raw_reader, bridge:
        time.sleep(0.5)  # subscriptions in place
        for topic, vals in values.items():
            _publish_mqtt(mosquitto, topic, vals)
        wire = {m.value: bytes(m.raw.payload) for m, _ in zip(raw_reader, range(60), strict=False)}
        _wait(lambda: bridge.metrics.acknowledged == 60)
    assert bridge.mode == "passthrough"
    sent = {v for vals in values.values() for v in vals}
    got = _kafka_values(tansu, kafka_topic, sent)
    assert {m.value for m in got} == sent
    for m in got:
        assert m.raw.value == wire[m.value]  # the MQTT payload bytes, unchanged
        assert m.raw.key == f"sensors/dev{m.value[1:2].decode()}/temp".encode()
    # One device's messages stay in one partition, in their MQTT order.
    for topic, vals in values.items():
        mine = [m for m in got if m.raw.key == topic.encode()]
        assert len({m.raw.partition for m in mine}) == 1
        assert [m.value for m in mine] == vals


def _stream(address: str, topic: str, count: int, pause: float) -> tuple[list[bytes], Any]:
    """Publish ``count`` messages to MQTT on a thread, ``pause`` s apart."""
    values = [b"%05d" % i for i in range(count)]
    thread = threading.Thread(target=_publish_mqtt, args=(address, topic, values, pause))
    thread.start()
    return values, thread


def _lost_and_duplicates(got: list[Any], sent: list[bytes]) -> tuple[set[bytes], int]:
    values = [m.value for m in got]
    return set(sent) - set(values), len(values) - len(set(values))


@pytest.mark.parametrize("side", ["kafka", "mqtt"])
def test_a_3_s_cut_of_either_side_loses_nothing(
    side: str, tmp_path: Path, mosquitto: str, tansu: str, *, make_topic: Any, relay_factory: Any
) -> None:
    kafka_topic = make_topic(tansu, 1)
    if side == "kafka":
        relay = relay_factory()  # every Kafka connection of the bridge goes through it
        source = _mqtt_source(mosquitto, "sensors/cut")
        dest = _kafka_dest(tansu, kafka_topic, proxy_url=relay.url)
    else:
        host, port = mosquitto.split(":")
        relay = relay_factory(target=(host, int(port)))  # the bridge's MQTT connection only
        source = _mqtt_source(f"127.0.0.1:{relay.port}", "sensors/cut")
        dest = _kafka_dest(tansu, kafka_topic)
    cfg = _config(tmp_path / "c.yml", sensors=source, analytics=dest)
    with Bridge("sensors", "analytics", config_file=cfg) as bridge:
        time.sleep(0.5)
        sent, publisher = _stream(mosquitto, "sensors/cut", 400, 0.01)
        _wait(lambda: bridge.metrics.acknowledged >= 50)
        relay.cut()
        time.sleep(1.5)
        during = bridge.metrics.acknowledged
        time.sleep(1.5)
        assert bridge.metrics.acknowledged == during  # the cut stalls the bridge
        relay.restore()
        publisher.join()
        _wait(lambda: bridge.metrics.acknowledged >= 400, 30)
    got = _kafka_values(tansu, kafka_topic, set(sent))
    lost, dups = _lost_and_duplicates(got, sent)
    assert lost == set()
    assert during < 400
    print(f"{side} cut: {len(got)} received, {dups} duplicates, metrics {bridge.metrics}")


def test_bridge_killed_and_restarted_loses_nothing(
    tmp_path: Path, mosquitto: str, tansu: str, make_topic: Any
) -> None:
    kafka_topic = make_topic(tansu, 1)
    cfg = _mqtt_to_kafka(tmp_path / "c.yml", mosquitto, tansu, "sensors/kill", kafka_topic)
    start = _bridge_process(cfg, "sensors", "analytics")
    first = start(subprocess.DEVNULL)
    # Subscribed once the persistent session exists; then messages queue for it.
    time.sleep(2.5)
    sent, publisher = _stream(mosquitto, "sensors/kill", 600, 0.005)
    time.sleep(1.0)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = start(subprocess.PIPE)
    try:
        publisher.join()
        got = _kafka_values(tansu, kafka_topic, set(sent), timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=20)
    lost, dups = _lost_and_duplicates(got, sent)
    assert lost == set(), err.decode()
    assert second.returncode == 0, err.decode()
    assert b"received" in out  # the summary printed after the graceful drain
    print(f"kill -9: {len(got)} received, {dups} duplicates; {out.decode().strip()}")


KEY_A = {"algorithm": "AES", "mode": "GCM", "key_length": 128, "password": "key-a"}
KEY_B = {"algorithm": "AES", "mode": "GCM", "key_length": 128, "password": "key-b"}


def test_kafka_to_mqtt_reencrypts_and_maps_keys_to_topics(
    tmp_path: Path, mosquitto: str, tansu: str, make_topic: Any
) -> None:
    kafka_topic = make_topic(tansu, 2)
    crypto_a = {"data_encryption": True, "crypto": KEY_A}
    with MessageWriter(
        None, kafka_topic, no_config=True, type="kafka", brokers=tansu, **crypto_a
    ) as w:
        for i in range(20):
            w.publish(b"v%02d" % i, key=f"dev{i % 2}")
    cfg = _config(
        tmp_path / "c.yml",
        analytics=_kafka_source(tansu, kafka_topic, **crypto_a),
        devices={"type": "mqtt", "brokers": mosquitto, "data_encryption": True, "crypto": KEY_B},
    )
    rules = [f"{kafka_topic}=>devices/{{key}}/v"]
    params = {"type": "mqtt", "brokers": mosquitto, "consistency": AT_LEAST_ONCE}
    crypto_b = {"data_encryption": True, "crypto": KEY_B}
    got: list[Any] = []
    with MessageReader(
        None, "devices/#", no_config=True, receive_timeout_ms=15000, **params, **crypto_b
    ) as reader:
        bridge = Bridge("analytics", "devices", config_file=cfg, topic_map=rules)
        assert bridge.mode == "reencrypt"
        with bridge:
            for m in reader:
                got.append(m)
                if len(got) == 20:
                    break
            _wait(lambda: bridge.metrics.acknowledged == 20)
    assert sorted(m.value for m in got) == [b"v%02d" % i for i in range(20)]
    for m in got:
        assert m.topic == f"devices/dev{int(m.value[1:]) % 2}/v"


def test_kafka_to_mqtt_across_a_3_s_cut_of_the_mqtt_destination(
    tmp_path: Path, mosquitto: str, tansu: str, make_topic: Any, relay_factory: Any
) -> None:
    kafka_topic = make_topic(tansu, 1)
    host, port = mosquitto.split(":")
    relay = relay_factory(target=(host, int(port)))  # the bridge's MQTT connections only
    cfg = _config(
        tmp_path / "c.yml",
        analytics=_kafka_source(tansu, kafka_topic),
        devices={
            "type": "mqtt",
            "brokers": f"127.0.0.1:{relay.port}",
            "topic": "devices/all",
            "type_spec": MQTT_FAST,
        },
    )
    sent = [b"%05d" % i for i in range(300)]
    params = {"type": "mqtt", "brokers": mosquitto, "consistency": AT_LEAST_ONCE}
    got: list[bytes] = []
    with (
        MessageReader(None, "devices/all", no_config=True, receive_timeout_ms=500, **params) as sub,
        MessageWriter(None, kafka_topic, no_config=True, type="kafka", brokers=tansu) as producer,
        Bridge("analytics", "devices", config_file=cfg) as bridge,
    ):
        for i, value in enumerate(sent):
            producer.publish(value)
            if i == 100:
                _wait(lambda: bridge.metrics.acknowledged >= 50)
                relay.cut()
            if i == 200:
                time.sleep(3)
                relay.restore()
            time.sleep(0.005)
        deadline = time.monotonic() + 30
        while not set(sent) <= set(got) and time.monotonic() < deadline:
            got.extend(m.value for m in sub)
    assert set(sent) - set(got) == set()
    assert bridge.metrics.retried > 0  # the destination failed publishes while it was cut
    print(f"mqtt destination cut: {len(got)} received, metrics {bridge.metrics}")


def test_kafka_source_bridge_killed_and_restarted_loses_nothing(
    tmp_path: Path, mosquitto: str, tansu: str
) -> None:
    topic = f"t-{uuid.uuid4().hex[:12]}"
    source = _kafka_source(tansu, topic)
    dest = {"type": "mqtt", "brokers": mosquitto, "topic": "devices/kill"}
    cfg = _config(tmp_path / "c.yml", analytics=source, devices=dest)
    start = _bridge_process(cfg, "analytics", "devices")
    sent = [b"%05d" % i for i in range(600)]
    params = {"type": "mqtt", "brokers": mosquitto, "consistency": AT_LEAST_ONCE}
    kafka = {"type": "kafka", "brokers": tansu, "consistency": AT_LEAST_ONCE}
    got: list[bytes] = []

    def produce() -> None:
        with MessageWriter(None, topic, no_config=True, **kafka) as producer:
            for value in sent[1:]:
                producer.publish(value)
                time.sleep(0.005)

    with MessageReader(
        None, "devices/kill", no_config=True, receive_timeout_ms=200, **params
    ) as sub:
        with MessageWriter(None, topic, no_config=True, **kafka) as producer:
            producer.publish(sent[0])  # the topic exists before the bridge's group joins
        first = start(subprocess.DEVNULL)
        producer_thread = threading.Thread(target=produce)
        producer_thread.start()
        deadline = time.monotonic() + 30
        while len(got) < 100 and time.monotonic() < deadline:  # the first one is forwarding
            got.extend(m.value for m in sub)
        first.send_signal(signal.SIGKILL)  # mid-stream
        first.wait(10)
        second = start(subprocess.PIPE)
        try:
            producer_thread.join()
            deadline = time.monotonic() + 60
            while not set(sent) <= set(got) and time.monotonic() < deadline:
                got.extend(m.value for m in sub)
        finally:
            second.send_signal(signal.SIGTERM)
            out, err = second.communicate(timeout=60)
    assert len(got) >= 100  # the first bridge did forward before it was killed
    assert set(sent) - set(got) == set(), err.decode()
    assert second.returncode == 0, err.decode()
    dups = len(got) - len(set(got))
    print(f"kafka source, kill -9: {len(got)} received, {dups} duplicates; {out.decode().strip()}")
