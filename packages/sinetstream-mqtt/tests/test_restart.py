"""Mosquitto killed and restarted mid-stream, and a writer process killed mid-stream.

Through the public API only. The broker keeps its sessions and queued messages on
disk (``persistence true``) and saves after every change (``autosave_on_changes``):
a SIGKILL then loses only what was not yet saved, which is what a durable broker
promises. The writer and the reader have persistent sessions (3.1.1
``clean_session: false``; 5 ``clean_start: false`` + session expiry). The checks:
every message whose ``publish`` returned, or whose promise resolved, reaches the
reader; duplicates (allowed at QoS 1) are counted, not failed.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from mqtt_support import Mosquitto
from sinetstream import (
    AsyncMessageReader,
    ConnectionError,  # noqa: A004
    Message,
    MessageReader,
    MessageWriter,
    SinetError,
)
from sinetstream.testing.crash import run_killed_writer
from sinetstream.testing.load import CollectingReader
from sinetstream_mqtt._outage import OUTAGE_REPORT_S

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

RECONNECT = {"min_delay": 0.1, "max_delay": 0.5}


def kill(broker: Mosquitto) -> None:
    """SIGKILL: no chance to save anything more."""
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGKILL)
    broker.proc.wait(10)
    broker.proc = None


def collector(params: dict[str, Any]) -> CollectingReader:
    """A sync reader (persistent session in ``params``) collecting on a thread."""
    reader = MessageReader(receive_timeout_ms=200, **params)
    reader.open()
    return CollectingReader(reader)


def publish_until_acknowledged(writer: MessageWriter, value: str) -> int:
    """Publish ``value`` until the broker acknowledges it; how many tries failed."""
    retries = 0
    while True:
        try:
            writer.publish(value)
            return retries
        except ConnectionError:  # not acknowledged: publish it again
            retries += 1
            time.sleep(0.05)


def service(broker: Mosquitto, topic: str, protocol: str, client_id: str) -> dict[str, Any]:
    return {
        "no_config": True,
        "type": "mqtt",
        "brokers": broker.broker(),
        "consistency": "AT_LEAST_ONCE",
        "value_type": "text",
        "client_id": client_id,
        "type_spec": {
            "protocol": protocol,
            "persistent_session": True,
            "reconnect_delay": RECONNECT,
        },
        "topic": topic,
    }


def reader_service(broker: Mosquitto, topic: str, protocol: str, client_id: str) -> dict[str, Any]:
    params = service(broker, topic, protocol, client_id)
    params["topics"] = params.pop("topic")
    return params


@pytest.mark.parametrize("protocol", ["MQTTv311", "MQTTv5"])
def test_broker_killed_and_restarted_mid_stream_loses_nothing(
    durable_mosquitto: Mosquitto, topic: str, protocol: str
) -> None:
    """Reader ``online`` stays connected; reader ``away`` leaves before the kill, is back after.

    ``away``'s session holds messages queued while it was gone when the broker is
    killed: they come back only from the broker's persistence file.
    """
    broker = durable_mosquitto
    tag = uuid.uuid4().hex[:8]
    online = collector(reader_service(broker, topic, protocol, f"online-{tag}"))
    away_params = reader_service(broker, topic, protocol, f"away-{tag}")
    away = [collector(away_params)]
    acked: list[int] = []
    retries = 0
    outage = 0.0
    try:
        with MessageWriter(**service(broker, topic, protocol, f"rw-{tag}")) as writer:
            for seq in range(400):
                if seq == 100:
                    away[0].close()
                elif seq == 150:
                    # Mosquitto acknowledges a publish before its next save: let it save the
                    # messages already acknowledged, then kill it while the stream goes on.
                    time.sleep(0.3)
                    kill(broker)
                    restarter = threading.Timer(1.0, broker.start)
                    restarter.start()
                elif seq == 250:
                    away.append(collector(away_params))
                start = time.monotonic()
                retries += publish_until_acknowledged(writer, str(seq))
                outage = max(outage, time.monotonic() - start)
                acked.append(seq)
                time.sleep(0.002)
            restarter.join()
        missing_online = online.wait_for(set(acked), 20)
        missing_away = away[1].wait_for(set(acked) - set(away[0].values), 20)
    finally:
        online.close()
        away[-1].close()
    assert missing_online == set(), (
        f"online lost {len(missing_online)}: {sorted(missing_online)[:20]}"
    )
    assert missing_away == set(), (
        f"away lost {len(missing_away)}: {sorted(missing_away)[:20]}\n{broker.log_tail()}"
    )
    assert outage > 0.8, "no publish overlapped the broker's outage"
    assert retries > 0
    received = Counter(online.values + away[0].values + away[1].values)
    duplicates = sum(n - 1 for n in received.values() if n > 1) - len(acked)
    print(f"{protocol}: {len(acked)} acknowledged, {retries} retries, {duplicates} duplicates")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_writer_process_killed_mid_stream(
    durable_mosquitto: Mosquitto, topic: str, mode: str
) -> None:
    broker = durable_mosquitto
    tag = uuid.uuid4().hex[:8]
    reader = collector(reader_service(broker, topic, "MQTTv311", f"kr-{tag}"))
    try:
        reported = run_killed_writer(service(broker, topic, "MQTTv311", f"kw-{tag}"), mode, 300)
        missing = reader.wait_for(set(reported), 15)
    finally:
        reader.close()
    assert missing == set(), f"lost {len(missing)} delivered messages: {sorted(missing)[:20]}"
    print(f"{mode}: {len(reported)} reported delivered, {len(set(reader.values))} received")


@pytest.mark.parametrize("style", ["sync", "async"])
def test_reader_reports_a_killed_broker_once_then_goes_on(
    durable_mosquitto: Mosquitto, topic: str, style: str
) -> None:
    """A broker down for 2 s: the sync reader raises what on_failure gets, once.

    As Kafka's readers do: the iterator raises the ConnectionError after the
    messages read before the loss, once the connection has been down for
    OUTAGE_REPORT_S; iterating again goes on with what was published after
    the restart (paho reconnects, the session kept it).
    """
    broker = durable_mosquitto
    tag = uuid.uuid4().hex[:8]
    params = reader_service(broker, topic, "MQTTv311", f"lost-{style}-{tag}")
    got: list[str] = []
    failures: list[BaseException] = []
    reader: Any
    if style == "async":
        reader = AsyncMessageReader(**params)

        def on_message(message: Message) -> None:
            got.append(message.value)

        reader.on_message = on_message
        reader.on_failure = lambda exc, _tb: failures.append(exc)

        def wait(cond: Any, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not cond():
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.02)

    else:
        reader = MessageReader(receive_timeout_ms=200, **params)

        def wait(cond: Any, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not cond():
                assert time.monotonic() < deadline, "timed out"
                try:
                    for message in reader:
                        got.append(message.value)
                        if cond():
                            return
                except SinetError as exc:
                    failures.append(exc)

    writer_params = service(broker, topic, "MQTTv311", f"lw-{style}-{tag}")
    with reader:
        with MessageWriter(**writer_params) as writer:
            writer.publish("before")
        wait(lambda: got == ["before"], 5)
        killed = time.monotonic()  # before the kill: paho may see the drop before kill() returns
        kill(broker)
        wait(lambda: failures, 5)
        # Not before the outage lasted OUTAGE_REPORT_S (a quick reconnect is no failure).
        assert time.monotonic() - killed >= OUTAGE_REPORT_S
        time.sleep(0.5)  # paho's reconnects are refused meanwhile: still one loss
        broker.start()
        with MessageWriter(**writer_params) as writer:
            writer.publish("after")
        wait(lambda: got == ["before", "after"], 15)
        assert reader.metrics.error_count_total == 1
    assert len(failures) == 1
    assert isinstance(failures[0], ConnectionError)
    assert f"lost the connection to MQTT broker {broker.broker()}" in str(failures[0])
    assert "reconnecting" in str(failures[0])


@pytest.mark.parametrize("style", ["sync", "async"])
def test_reader_rides_out_a_broker_restarted_at_once(
    durable_mosquitto: Mosquitto, topic: str, style: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection paho re-establishes within OUTAGE_REPORT_S is logged, not reported.

    As with SINETStream 1.10, a ``for msg in reader:`` loop goes on through a
    broker restarted at once: no exception, no on_failure, and every QoS 1
    message published before, during and after the restart arrives.
    """
    broker = durable_mosquitto
    tag = uuid.uuid4().hex[:8]
    params = reader_service(broker, topic, "MQTTv311", f"blip-{style}-{tag}")
    got: list[str] = []
    failures: list[BaseException] = []
    count = 300
    reader: Any
    if style == "async":
        reader = AsyncMessageReader(**params)
        reader.on_message = lambda message: got.append(message.value)
        reader.on_failure = lambda exc, _tb: failures.append(exc)
    else:
        reader = MessageReader(receive_timeout_ms=200, **params)
    writer_params = service(broker, topic, "MQTTv311", f"bw-{style}-{tag}")
    retries = 0

    def produce() -> None:
        nonlocal retries
        with MessageWriter(**writer_params) as writer:
            for seq in range(count):
                if seq == count // 3:
                    time.sleep(0.3)  # Mosquitto saves what it acknowledged
                    kill(broker)
                    broker.start()
                retries += publish_until_acknowledged(writer, str(seq))
                time.sleep(0.002)

    caplog.set_level("WARNING", logger="sinetstream_mqtt")
    with reader:
        producer = threading.Thread(target=produce)
        producer.start()
        # Past the restart by more than OUTAGE_REPORT_S: a report would be due by now.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            producer.is_alive() or set(got) != {str(i) for i in range(count)}
        ):
            if style == "async":
                time.sleep(0.05)
                continue
            try:
                got.extend(message.value for message in reader)
            except SinetError as exc:
                failures.append(exc)
        producer.join(10)
        time.sleep(OUTAGE_REPORT_S + 0.5)
        if style == "sync":
            try:
                got.extend(message.value for message in reader)
            except SinetError as exc:
                failures.append(exc)
        errors = reader.metrics.error_count_total
    assert failures == []
    assert errors == 0
    missing = {str(i) for i in range(count)} - set(got)
    assert missing == set(), f"lost {len(missing)}: {sorted(missing, key=int)[:20]}"
    lost = [r for r in caplog.records if "lost the connection to MQTT broker" in r.getMessage()]
    assert lost, "the connection was never lost: the test did not restart the broker"
    assert all(r.levelname == "WARNING" for r in lost)
    print(f"{style}: {len(got)} received, {retries} publish retries, {len(lost)} losses logged")
