"""A group reader that stops reading for 10 s while an AT_LEAST_ONCE writer goes on.

What a stalled reader holds is bounded by the fetch settings: kafka-python
fetches a partition again only once the records fetched before were handed
out, so the reader keeps at most one fetch response (``fetch_max_bytes``, at
most ``max_partition_fetch_bytes`` per partition) plus the batch being handed
over (``max_poll_records``). The broker keeps the rest; when the loop resumes
it catches up from its position, nothing lost.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest
from sinetstream import AsyncMessageWriter, MessageReader
from sinetstream.testing.load import PacedWriter, message_number, rss_bytes

from .conftest import TANSU_SESSION

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

STALL_S = 10.0
RATE = 2500  # 1 KiB messages: ~25 MB published while the reader is stalled
FETCH = {"max_partition_fetch_bytes": 256 * 1024, "fetch_max_bytes": 512 * 1024}


def test_stalled_reader_stays_within_its_fetch_bounds_then_catches_up(
    tansu: str, make_topic: Any, group: str
) -> None:
    topic = make_topic(tansu)
    common = {"no_config": True, "type": "kafka", "brokers": tansu, "consistency": "AT_LEAST_ONCE"}
    spec = {**TANSU_SESSION, **FETCH, "group_id": group}
    received: set[int] = set()
    with MessageReader(topics=topic, receive_timeout_ms=5000, type_spec=spec, **common) as reader:
        with AsyncMessageWriter(topic=topic, **common) as writer:
            gc.collect()
            base = peak = rss_bytes()
            load = PacedWriter(writer, RATE)
            deadline = time.monotonic() + STALL_S
            while time.monotonic() < deadline:  # the reader's loop does nothing
                time.sleep(0.25)
                peak = max(peak, rss_bytes())
            stalled_published = load.published
            load.close()
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
    assert missing == set(), f"lost {len(missing)}: {sorted(missing)[:20]}"
