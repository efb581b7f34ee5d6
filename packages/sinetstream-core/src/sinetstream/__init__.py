"""sinetstream: one API for messaging over Kafka, MQTT or an in-process queue.

    from sinetstream import MessageReader, MessageWriter

    with MessageWriter("my-service", "sensors") as writer:
        writer.publish(b"21.5")

    with MessageReader("my-service", "sensors", receive_timeout_ms=5000) as reader:
        for message in reader:
            print(message.topic, message.timestamp, message.value)

Services are described in ``.sinetstream_config.yml``; backends (``type:``)
are installed as separate distributions: ``sinetstream-queue``,
``sinetstream-kafka``, ``sinetstream-mqtt``, or any third-party plugin.
"""

from __future__ import annotations

import typing as _typing

from ._message import Message
from ._metrics import Metrics
from ._params import AT_LEAST_ONCE, AT_MOST_ONCE, EXACTLY_ONCE, Consistency
from ._readers import AsyncMessageReader, MessageReader
from ._value_type import BYTE_ARRAY, TEXT
from ._version import __version__
from ._writers import AsyncMessageWriter, MessageWriter
from .error import (
    AlreadyConnectedError,
    AuthenticationError,
    AuthorizationError,
    ConnectionError,  # noqa: A004 - the reference's public name
    InvalidArgumentError,
    InvalidConfigError,
    InvalidMessageError,
    NoConfigError,
    NoServiceError,
    NotOpenError,
    SinetError,
    UnsupportedServiceTypeError,
)

if _typing.TYPE_CHECKING:
    from ._bridge import Bridge, BridgeMetrics
    from ._codec import SINETStreamMessageDecoder, SINETStreamMessageEncoder

__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "BYTE_ARRAY",
    "DEFAULT_CLIENT_ID",
    "EXACTLY_ONCE",
    "TEXT",
    "AlreadyConnectedError",
    "AsyncMessageReader",
    "AsyncMessageWriter",
    "AuthenticationError",
    "AuthorizationError",
    "Bridge",
    "BridgeMetrics",
    "ConnectionError",
    "Consistency",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidMessageError",
    "Message",
    "MessageReader",
    "MessageWriter",
    "Metrics",
    "NoConfigError",
    "NoServiceError",
    "NotOpenError",
    "SINETStreamMessageDecoder",
    "SINETStreamMessageEncoder",
    "SinetError",
    "UnsupportedServiceTypeError",
    "__version__",
]

#: ``client_id`` value that asks for a generated id (``sinetstream-<uuid4>``).
DEFAULT_CLIENT_ID = None

_LAZY = {"SINETStreamMessageEncoder", "SINETStreamMessageDecoder"}
_LAZY_BRIDGE = {"Bridge", "BridgeMetrics"}


def __getattr__(name: str) -> _typing.Any:
    # The codec pulls in cryptography and zstandard: load it on first use only.
    if name in _LAZY:
        from . import _codec

        return getattr(_codec, name)
    if name in _LAZY_BRIDGE:
        from . import _bridge

        return getattr(_bridge, name)
    raise AttributeError(f"module 'sinetstream' has no attribute {name!r}")
