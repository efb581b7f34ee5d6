"""A group reader that stops reading for 10 s while an AT_LEAST_ONCE writer goes on.

What a stalled reader holds is bounded by the fetch settings: kafka-python
fetches a partition again only once the records fetched before were handed
out, so the reader keeps at most one fetch response (``fetch_max_bytes``, at
most ``max_partition_fetch_bytes`` per partition) plus the batch being handed
over (``max_poll_records``). The broker keeps the rest; when the loop resumes
it catches up from its position, nothing lost.
"""

from __future__ import annotations

from typing import Any

import pytest
from sinetstream import AsyncMessageWriter, MessageReader
from sinetstream.testing.load import stall_then_catch_up

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
    with (
        MessageReader(topics=topic, receive_timeout_ms=5000, type_spec=spec, **common) as reader,
        AsyncMessageWriter(topic=topic, **common) as writer,
    ):
        got = stall_then_catch_up(reader, writer, RATE, STALL_S)
    print(
        f"published {got.published} ({got.published_while_stalled} during the stall), received "
        f"{len(got.received)}, RSS +{got.rss_growth / 2**20:.1f} MiB, "
        f"caught up in {got.catch_up_s:.1f} s"
    )
    assert got.failed == []
    assert got.published_while_stalled * 1024 > 20 * 2**20
    growth = got.rss_growth
    assert growth < 10 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB while the reader stalled"
    assert got.missing == set(), f"lost {len(got.missing)}: {sorted(got.missing)[:20]}"
