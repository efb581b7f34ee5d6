"""A sync reader that stops reading for 10 s while a QoS 1 writer goes on.

Its buffer between paho's network thread and the iterating loop is bounded by
``receive_buffer_size`` (messages) and ``receive_buffer_bytes`` (bytes): once
full, the network thread waits, TCP pushes back and Mosquitto keeps the rest
(``max_queued_messages 0``). At QoS 1 the broker's in-flight window (Mosquitto's
``max_inflight_messages``, 20) stops it even sooner, since a message is
acknowledged only when the loop takes it. So the reader's memory stays flat
while the writer publishes far more than the bound, and when the loop resumes
every message arrives: nothing lost at AT_LEAST_ONCE.
"""

from __future__ import annotations

import gc
import time

import pytest
from mqtt_support import Mosquitto
from sinetstream import AsyncMessageWriter, MessageReader
from sinetstream.testing.load import PacedWriter, message_number, rss_bytes

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

STALL_S = 10.0
QOS = {"AT_LEAST_ONCE": 1, "AT_MOST_ONCE": 0}
RATE = 2500  # 1 KiB messages: ~25 MB published while the reader is stalled
BUFFER_MESSAGES = 200
BUFFER_BYTES = 256 * 1024


@pytest.mark.parametrize("consistency", ["AT_LEAST_ONCE", "AT_MOST_ONCE"])
def test_stalled_reader_stays_within_its_buffer_bound_then_catches_up(
    mosquitto: Mosquitto, topic: str, consistency: str
) -> None:
    """QoS 1: Mosquitto's in-flight window (20) stops first; QoS 0: the buffer bound."""
    common = {"no_config": True, "type": "mqtt", "brokers": mosquitto.broker(),
              "consistency": consistency}  # fmt: skip
    spec = {"receive_buffer_size": BUFFER_MESSAGES, "receive_buffer_bytes": BUFFER_BYTES}
    received: set[int] = set()
    most_buffered = 0
    with MessageReader(topics=topic, receive_timeout_ms=2000, type_spec=spec, **common) as reader:
        with AsyncMessageWriter(topic=topic, **common) as writer:
            gc.collect()
            base = peak = rss_bytes()
            load = PacedWriter(writer, RATE)
            deadline = time.monotonic() + STALL_S
            while time.monotonic() < deadline:  # the reader's loop does nothing
                time.sleep(0.25)
                peak = max(peak, rss_bytes())
                raw = reader.metrics.raw
                most_buffered = max(most_buffered, raw["buffered"])
                assert raw["buffered"] <= BUFFER_MESSAGES
                assert raw["buffered_bytes"] <= BUFFER_BYTES + 1024  # + the message crossing it
            stalled_published = load.published
            load.close()
        print(f"{consistency}: most buffered {most_buffered}, {raw}")
        # the reader really was receiving while its loop stalled
        assert most_buffered >= (BUFFER_MESSAGES if QOS[consistency] == 0 else 10)
        catch_up = time.monotonic()
        for message in reader:
            received.add(message_number(message.value))
            if len(received) == load.published:
                break
        catch_up = time.monotonic() - catch_up
    growth = peak - base
    print(
        f"published {load.published} ({stalled_published} during the stall), received "
        f"{len(received)}, RSS +{growth / 2**20:.1f} MiB, caught up in {catch_up:.1f} s"
    )
    assert load.failed == []
    assert load.acknowledged == load.published
    assert stalled_published * 1024 > 20 * 2**20
    assert growth < 10 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB while the reader stalled"
    missing = set(range(load.published)) - received
    if consistency == "AT_LEAST_ONCE":  # QoS 0 may drop; Mosquitto kept them all here
        assert missing == set(), f"lost {len(missing)}: {sorted(missing)[:20]}"
