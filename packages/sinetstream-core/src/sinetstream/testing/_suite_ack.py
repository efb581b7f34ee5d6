"""The conformance test of manual acknowledgement (feature ``manual_ack``).

It drives the backend the way :class:`sinetstream.Bridge` does, through the
bridge's source reader: ``enable_manual_ack()`` before ``open()``, then
``ack(raw)`` for what is done.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from sinetstream import AT_LEAST_ONCE, MessageWriter
from sinetstream._bridge._endpoints import SourceReader

if TYPE_CHECKING:
    from ._backend import Backend

__all__ = ["ManualAckTests"]


def _source(backend: Backend, topic: str, client_id: str) -> SourceReader:
    params = {
        "receive_timeout_ms": backend.receive_timeout_ms,
        **backend.params,
        "client_id": client_id,
        "consistency": AT_LEAST_ONCE,
    }
    return SourceReader(None, topic, no_config=True, **params)


def _take(reader: SourceReader, count: int) -> list[tuple[Any, Any]]:
    """``count`` messages as ``(value, raw)``."""
    got: list[tuple[Any, Any]] = []
    for data, _, raw in reader.wire_messages():
        decoded = reader.decode(data)
        assert decoded is not None
        got.append((decoded[0], raw))
        if len(got) >= count:
            break
    return got


class ManualAckTests:
    """Mixed into :class:`ConformanceSuite`."""

    def test_manual_ack_redelivers_what_was_not_acknowledged(self, backend: Backend) -> None:
        if "manual_ack" not in backend.features:
            pytest.skip("backend does not declare manual_ack")
        topic = backend.topic()
        client_id = f"{backend.topic_prefix}-ack-{uuid.uuid4().hex[:8]}"
        with _source(backend, topic, client_id) as reader:
            time.sleep(backend.settle_s)
            # At least once needs it on both hops (MQTT: a QoS 0 publish arrives at QoS 0).
            params = {**backend.params, "consistency": AT_LEAST_ONCE}
            with MessageWriter(None, topic, no_config=True, **params) as writer:
                for value in (b"a", b"b", b"c"):
                    writer.publish(value)
            first = _take(reader, 3)
            assert [v for v, _ in first] == [b"a", b"b", b"c"]
            reader.ack(first[0][1])  # "a" is done; "b" and "c" are not
            time.sleep(0.2)  # let the acknowledgement reach the broker
        with _source(backend, topic, client_id) as again:
            rest = _take(again, 2)
            for _, raw in rest:
                again.ack(raw)
        assert [v for v, _ in rest] == [b"b", b"c"], rest
