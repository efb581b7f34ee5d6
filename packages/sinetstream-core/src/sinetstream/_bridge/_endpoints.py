"""The bridge's two ends: a reader that acknowledges by hand, a writer of wire bytes.

Both are the ordinary :class:`MessageReader` and :class:`AsyncMessageWriter`
(config, plugin lifecycle, codec), with what the bridge adds: the source
plugin is asked for manual acknowledgement before it opens, and the
destination publishes wire bytes it is given (passthrough) or encodes a
value with the timestamp the source message had (decode/encode).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sinetstream._config import load_service
from sinetstream._readers import MessageReader
from sinetstream._writers import AsyncMessageWriter
from sinetstream.error import SinetError
from sinetstream.spi import PluginMessage

if TYPE_CHECKING:
    from sinetstream._promise import SinetPromise

__all__ = ["CODEC_PARAMS", "SinkWriter", "SourceReader", "source_client_id"]

#: Parameters that shape the wire bytes: two services that agree on all of
#: them read and write the same bytes, so the bridge can pass them through.
CODEC_PARAMS = (
    "crypto",
    "data_encryption",
    "data_compression",
    "compression",
    "message_format",
    "user_data_only",
    "value_type",
)


def source_client_id(
    from_service: str | None,
    to_service: str | None,
    config: str | None,
    config_file: Any,
    params: Mapping[str, Any],
) -> str | None:
    """The client id to give the source when its service sets none, else ``None``.

    A fixed one: a restarted bridge then resumes the same MQTT session or Kafka
    group, where what arrived while it was down waits (a generated id would
    start a new one and skip that).
    """
    if params.get("client_id"):
        return None
    no_config = bool(params.get("no_config"))
    file_params = load_service(from_service, config, config_file, no_config)[2]
    if file_params.get("client_id"):
        return None
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{from_service}-{to_service}")
    return f"sinetstream-bridge-{name}"


class SourceReader(MessageReader):
    """A reader whose plugin acknowledges a message only when told (``ack``)."""

    def _before_open(self, plugin: Any) -> None:
        super()._before_open(plugin)
        enable = getattr(plugin, "enable_manual_ack", None)
        if not callable(enable) or not callable(getattr(plugin, "ack", None)):
            raise SinetError(
                f"{self._where}the {self.params['type']} backend cannot acknowledge messages "
                "after they were forwarded (no enable_manual_ack/ack, see sinetstream.spi), so "
                "a bridge from it could lose messages: use a source backend that has them"
            )
        enable()

    def wire_messages(self) -> Iterator[tuple[bytes, str | None, Any]]:
        """The plugin's own iterator: undecoded ``(bytes, topic, raw)``."""
        return iter(self._require_open())

    def ack(self, raw: Any) -> None:
        """Acknowledge the message with this ``raw`` (and, per partition, those before it)."""
        plugin = self._plugin
        if plugin is not None:
            plugin.ack(raw)

    def decode(self, data: bytes) -> tuple[Any, int] | None:
        """``(value, timestamp µs)``, or ``None`` for an invalid message to skip."""
        message = self._decode_message(data, None, None)
        if message is None:
            return None
        return message.value, message.timestamp_us


class SinkWriter(AsyncMessageWriter):
    """An async writer that publishes given wire bytes, or a value at a given time."""

    def encode(self, value: Any, timestamp_us: int) -> PluginMessage:
        """The wire bytes of ``value`` with the source's timestamp kept."""
        wire, _, _ = self._encode(value, timestamp_us)
        return PluginMessage(wire, timestamp_us)

    def forward(self, message: PluginMessage, key: Any = None) -> SinetPromise:
        """Publish wire bytes as they are; the Promise settles with the broker's answer."""
        plugin = self._require_open()
        try:
            pending = plugin.publish(message) if key is None else plugin.publish(message, key=key)
        except Exception as exc:
            rejected: SinetPromise = self._promise.rejected_promise(
                self._failure(exc, "publish failed")
            )
            return rejected
        size = len(message)
        self._metrics.message(size, size, size)
        promise: SinetPromise = self._promise.settle_from(pending, self._count_error)
        return promise
