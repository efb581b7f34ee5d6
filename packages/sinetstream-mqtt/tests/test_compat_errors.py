"""MQTT error paths of a program written for SINETStream 1.10, against the native Mosquitto.

Each test catches what 1.10 raised in that situation (sinetstream's
``ConnectionError`` for a CONNECT the broker cannot take, ``RuntimeError`` for
a publish while disconnected), and checks that the error is still the precise
class, raised when the reader or writer is built, before any connection.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from mqtt_support import Mosquitto
from sinetstream import (
    ConnectionError,  # noqa: A004 - sinetstream's own, as a 1.10 program imports it
    InvalidArgumentError,
    MessageReader,
    MessageWriter,
)
from sinetstream.error import (
    ConnectParameterError,
    NotConnectedError,
    UnsupportedOperationError,
)

pytestmark = pytest.mark.mqtt


def mqtt(broker: Mosquitto, **type_spec: Any) -> dict[str, Any]:
    return {"no_config": True, "type": "mqtt", "brokers": broker.broker(), "type_spec": type_spec}


def _connection_error_of(params: dict[str, Any], topic: str) -> BaseException | None:
    """What a 1.10 program sees: build, open and publish inside ``except ConnectionError``."""
    built = None
    try:
        built = MessageWriter(None, topic, **params)
        with built as writer:
            writer.publish(b"x")
    except ConnectionError as exc:
        assert built is None, "refused only at open(): it must be refused when built"
        return exc
    return None


def test_clean_start_with_mqtt_311_is_a_connection_error(mosquitto: Mosquitto, topic: str) -> None:
    caught = _connection_error_of(mqtt(mosquitto, protocol="MQTTv311", clean_start=True), topic)
    assert isinstance(caught, ConnectParameterError)
    assert isinstance(caught, InvalidArgumentError)
    assert "type_spec.clean_start" in str(caught)
    assert "MQTTv5" in str(caught)


def test_v5_properties_with_mqtt_311_are_a_connection_error(
    mosquitto: Mosquitto, topic: str
) -> None:
    caught = _connection_error_of(mqtt(mosquitto, receive_maximum=10), topic)
    assert isinstance(caught, ConnectParameterError)
    assert "type_spec.receive_maximum" in str(caught)


@pytest.mark.parametrize("value", [0, -1, 65536])
def test_receive_maximum_out_of_range_one_class_at_construction(
    mosquitto: Mosquitto, topic: str, value: int
) -> None:
    caught = _connection_error_of(mqtt(mosquitto, protocol="MQTTv5", receive_maximum=value), topic)
    assert isinstance(caught, ConnectParameterError)
    assert isinstance(caught, InvalidArgumentError)
    assert "type_spec.receive_maximum: must be an integer in 1..65535" in str(caught)


@pytest.mark.parametrize(
    ("name", "value", "valid"),
    [
        ("maximum_packet_size", 0, "1..268435455"),
        ("topic_alias_maximum", 65536, "0..65535"),
        ("session_expiry_interval", -1, "0..4294967295"),
    ],
)
def test_other_v5_properties_out_of_range(
    mosquitto: Mosquitto, topic: str, name: str, value: int, valid: str
) -> None:
    caught = _connection_error_of(mqtt(mosquitto, protocol="MQTTv5", **{name: value}), topic)
    assert isinstance(caught, ConnectParameterError)
    assert f"type_spec.{name}: must be an integer in {valid}" in str(caught)


def test_valid_v5_connect_options_reach_mosquitto(mosquitto: Mosquitto, topic: str) -> None:
    params = mqtt(
        mosquitto,
        protocol="MQTTv5",
        clean_start=True,
        receive_maximum=1,
        maximum_packet_size=268435455,
        topic_alias_maximum=0,
    )
    with (
        MessageReader(None, topic, receive_timeout_ms=3000, **params) as reader,
        MessageWriter(None, topic, **params) as writer,
    ):
        writer.publish(b"accepted")
        assert next(iter(reader)).value == b"accepted"


def test_publish_while_disconnected_is_a_runtime_error(
    persistent_mosquitto: Mosquitto, topic: str
) -> None:
    broker = persistent_mosquitto
    params = mqtt(broker, reconnect_delay={"min_delay": 0.1, "max_delay": 0.2})
    with MessageWriter(None, topic, **params) as writer:
        broker.stop()
        caught: BaseException | None = None
        deadline = time.monotonic() + 5
        while caught is None and time.monotonic() < deadline:
            try:
                writer.publish(b"nowhere")
            except RuntimeError as exc:  # what 1.10 let escape from paho
                caught = exc
            time.sleep(0.02)
        broker.start()
    assert isinstance(caught, NotConnectedError)
    assert isinstance(caught, ConnectionError)


def test_seek_on_mqtt_is_an_attribute_error(mosquitto: Mosquitto, topic: str) -> None:
    caught: BaseException | None = None
    with MessageReader(None, topic, receive_timeout_ms=100, **mqtt(mosquitto)) as reader:
        try:
            reader.seek_to_beginning()
        except AttributeError as exc:  # what 1.10 let escape: the plugin had no seek
            caught = exc
    assert isinstance(caught, UnsupportedOperationError)
    assert "cannot seek_to_beginning" in str(caught)
