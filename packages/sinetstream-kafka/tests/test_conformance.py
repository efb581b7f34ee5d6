"""The backend conformance suite of sinetstream-core, run on Kafka (Tansu)."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.partitioner.abc import Partitioner
from sinetstream.testing import Backend, ConformanceSuite

from .conftest import NOIDA_SESSION, TANSU_SESSION, BrokerProcess, restart_broker

pytestmark = pytest.mark.kafka


class FirstPartition(Partitioner):  # type: ignore[misc]
    """Every record to partition 0: Kafka orders messages per partition only, and
    Tansu auto-creates topics with 4 partitions."""

    def partition(
        self, topic: str, *args: Any
    ) -> int:  # (key, ser. key, value, ser. value, cluster)
        return int(min(args[-1].partitions_for_topic(topic)))


class TestKafkaConformance(ConformanceSuite):
    @pytest.fixture
    def backend(self, tansu: str) -> Backend:
        return Backend(
            params={
                "type": "kafka",
                "brokers": tansu,
                # No group (the default): each reader reads every partition itself.
                # earliest: the suite's fresh topics hold only what the test wrote.
                "type_spec": {
                    **TANSU_SESSION,
                    "auto_offset_reset": "earliest",
                    "partitioner": FirstPartition(),
                },
            },
            features={"ordering", "persistence", "multiple_topics", "seek", "headers"},
            topic_prefix="conformance",
        )


class TestKafkaConformanceRestart(ConformanceSuite):
    """The suite on noida-db, whose storage survives a restart (``reconnect``)."""

    @pytest.fixture
    def backend(self, noida: BrokerProcess) -> Backend:
        return Backend(
            params={
                "type": "kafka",
                "brokers": noida.bootstrap,
                # A group named after the client id: manual_ack commits offsets, and
                # a reader reopened with the same client id resumes (persistence).
                "type_spec": {
                    **NOIDA_SESSION,
                    "group_id": True,
                    "auto_offset_reset": "earliest",
                    "reconnect_backoff_max_ms": 500,
                    "request_timeout_ms": 5000,
                },
            },
            # manual_ack reopens a group: on noida only, whose groups rejoin at once.
            features={
                "ordering",
                "persistence",
                "multiple_topics",
                "seek",
                "reconnect",
                "manual_ack",
                "headers",
            },
            topic_prefix="conformance",
            restart=lambda: restart_broker(noida),
        )
