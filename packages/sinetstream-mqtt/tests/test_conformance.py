"""The core's backend conformance suite, run on Mosquitto."""

from __future__ import annotations

import pytest
from mqtt_support import Mosquitto
from sinetstream.testing import Backend, ConformanceSuite

pytestmark = pytest.mark.mqtt


class TestMqttConformance(ConformanceSuite):
    """Every conformance test, MQTT 3.1.1 and 5, on a private persistent Mosquitto.

    Each test gets its own broker (persistence on) so ``reconnect`` can
    restart it; persistent sessions keep a reader's subscription and queued
    QoS 1 messages across that restart.
    """

    @pytest.fixture(params=["MQTTv311", "MQTTv5"])
    def backend(self, persistent_mosquitto: Mosquitto, request: pytest.FixtureRequest) -> Backend:
        return Backend(
            params={
                "type": "mqtt",
                "brokers": persistent_mosquitto.broker(),
                "type_spec": {
                    "protocol": request.param,
                    "persistent_session": True,
                    "reconnect_delay": {"min_delay": 0.1, "max_delay": 0.5},
                },
            },
            features={"ordering", "multiple_topics", "wildcards", "reconnect", "manual_ack"}
            | ({"headers"} if request.param == "MQTTv5" else set()),
            wildcard=lambda base: f"{base}/#",
            restart=persistent_mosquitto.restart,
        )
