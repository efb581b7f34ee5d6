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

import pytest
from mqtt_support import Mosquitto
from sinetstream import AsyncMessageWriter, MessageReader
from sinetstream.testing.load import stall_then_catch_up

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
    buffered: list[int] = []

    with MessageReader(topics=topic, receive_timeout_ms=2000, type_spec=spec, **common) as reader:

        def watch() -> None:
            raw = reader.metrics.raw
            buffered.append(raw["buffered"])
            assert raw["buffered"] <= BUFFER_MESSAGES
            assert raw["buffered_bytes"] <= BUFFER_BYTES + 1024  # + the message crossing it

        with AsyncMessageWriter(topic=topic, **common) as writer:
            got = stall_then_catch_up(reader, writer, RATE, STALL_S, watch=watch)
    print(
        f"{consistency}: published {got.published} ({got.published_while_stalled} during the "
        f"stall), most buffered {max(buffered)}, received {len(got.received)}, "
        f"RSS +{got.rss_growth / 2**20:.1f} MiB, caught up in {got.catch_up_s:.1f} s"
    )
    # the reader really was receiving while its loop stood still
    assert max(buffered) >= (BUFFER_MESSAGES if QOS[consistency] == 0 else 10)
    assert got.failed == []
    assert got.published_while_stalled * 1024 > 20 * 2**20
    growth = got.rss_growth
    assert growth < 10 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB while the reader stalled"
    if consistency == "AT_LEAST_ONCE":  # QoS 0 may drop; Mosquitto kept them all here
        assert got.missing == set(), f"lost {len(got.missing)}: {sorted(got.missing)[:20]}"
