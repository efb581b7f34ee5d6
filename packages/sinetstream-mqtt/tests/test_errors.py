"""paho's connect failures as ConnectionErrors: the table, and the context manager applying it."""

from __future__ import annotations

import socket
import ssl

import paho.mqtt.client as mqtt
import pytest
from sinetstream.error import ConnectionError  # noqa: A004
from sinetstream.spi import ConfigVersion
from sinetstream_mqtt._errors import connect_error, connect_errors
from sinetstream_mqtt._params import parse_settings


def _ssl_error(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, reason)
    exc.reason = reason  # set by the ssl module on a real handshake failure
    return exc


SETTINGS = parse_settings(ConfigVersion(3), {"brokers": "broker.test:1883", "topic": "t"}, "writer")


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (_ssl_error("BAD"), "TLS handshake with MQTT broker broker.test:1883 failed: BAD"),
        (TimeoutError(), "did not answer within connection_timeout="),
        (ConnectionRefusedError(111, "refused"), "refused the connection"),
        (mqtt.WebsocketConnectionError("404"), "websocket handshake"),
        (socket.gaierror(-2, "Name or service not known"), "cannot resolve 'broker.test'"),
        (OSError(113, "No route to host"), "cannot connect to MQTT broker broker.test:1883: No"),
        (RuntimeError("odd"), "cannot connect to MQTT broker broker.test:1883: RuntimeError"),
    ],
)
def test_each_connect_failure_is_a_connection_error(exc: Exception, says: str) -> None:
    err = connect_error(exc, SETTINGS)
    assert type(err) is ConnectionError
    assert says in str(err)


def test_the_context_manager_cleans_up_then_raises() -> None:
    cleaned: list[bool] = []
    with (
        pytest.raises(ConnectionError, match="refused the connection") as info,
        connect_errors(SETTINGS, cleanup=lambda: cleaned.append(True)),
    ):
        raise ConnectionRefusedError(111, "refused")
    assert cleaned == [True]
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
