"""The backend conformance suite, run on the embedded queue backend."""

from __future__ import annotations

import uuid

import pytest
from sinetstream.testing import Backend, ConformanceSuite


class TestQueueConformance(ConformanceSuite):
    @pytest.fixture
    def backend(self) -> Backend:
        return Backend(
            params={"type": "queue", "brokers": f"conformance-{uuid.uuid4().hex}"},
            features={"ordering", "persistence", "multiple_topics", "manual_ack", "headers"},
            receive_timeout_ms=2000,
        )
