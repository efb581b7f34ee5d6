"""The core's backend conformance suite, run on Mosquitto."""

from __future__ import annotations

import pytest
from mqtt_support import Mosquitto
from sinetstream.testing import Backend, ConformanceSuite

pytestmark = pytest.mark.mqtt


class TestMqttConformance(ConformanceSuite):
    """Every conformance test against a plain Mosquitto listener (QoS from consistency)."""

    @pytest.fixture(params=["MQTTv311", "MQTTv5"])
    def backend(self, mosquitto: Mosquitto, request: pytest.FixtureRequest) -> Backend:
        return Backend(
            params={
                "type": "mqtt",
                "brokers": mosquitto.broker(),
                "type_spec": {"protocol": request.param},
            },
            features={"ordering", "multiple_topics", "wildcards"},
            wildcard=lambda base: f"{base}/#",
        )
