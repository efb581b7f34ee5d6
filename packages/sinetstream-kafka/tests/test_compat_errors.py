"""Kafka settings a SINETStream 1.10 program sees fail as ``ConnectionError``.

1.10 handed every ``type_spec`` key to kafka-python and failed at ``open()``
with a ConnectionError when kafka-python refused one. Ours refuses it earlier
(an unknown key when the reader or writer is built) with the precise
:class:`ConnectParameterError`, which is also that ConnectionError. No broker
is needed: nothing is sent.
"""

from __future__ import annotations

from typing import Any

from sinetstream import (
    ConnectionError,  # noqa: A004 - sinetstream's own, as a 1.10 program imports it
    InvalidArgumentError,
    MessageReader,
    MessageWriter,
)
from sinetstream.error import ConnectParameterError


def kafka(**type_spec: Any) -> dict[str, Any]:
    # Nothing listens on the discard port of loopback; no test gets that far.
    return {"no_config": True, "type": "kafka", "brokers": "127.0.0.1:9", "type_spec": type_spec}


def test_unknown_type_spec_key_is_a_connection_error_at_construction() -> None:
    caught: BaseException | None = None
    try:
        with MessageReader(None, "t", **kafka(lingerms=5)) as reader:  # a typo of linger_ms
            next(iter(reader))
    except ConnectionError as exc:
        caught = exc
    assert isinstance(caught, ConnectParameterError)
    assert isinstance(caught, InvalidArgumentError)
    assert "'lingerms'" in str(caught)


def test_setting_kafka_python_refuses_is_a_connection_error() -> None:
    writer = MessageWriter(None, "t", **kafka(api_version="bogus"))
    caught: BaseException | None = None
    try:
        writer.open()
    except ConnectionError as exc:
        caught = exc
    assert isinstance(caught, ConnectParameterError)
    assert "rejected a setting" in str(caught)
