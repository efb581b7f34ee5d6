"""Publishing JSON-lines entries (``write --json``, ``replay``) and text from stdin.

:class:`Publisher` routes each :class:`~.jsonl.Entry` to a writer: the
``--topic`` or the service's one topic when there is one, else the entry's own
topic. A wire entry (``wire_b64``, a whole SINETStream message) goes through
a writer that adds nothing to it, so an encrypted recording is forwarded
without the key.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .jsonl import Entry
from .params import WIRE_PARAMS, writer_params
from .status import UsageError

if TYPE_CHECKING:
    from sinetstream import MessageWriter


def decode_text(data: bytes, source: str, hint: str) -> str:
    """``data`` as UTF-8 text, or a :class:`UsageError` naming the first bad byte and ``hint``.

    ``hint`` says why text is expected and what to use for data that is not text.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise UsageError(
            f"{source} is not UTF-8 text (byte {exc.start} is 0x{bad}); {hint}"
        ) from None


#: The ``hint`` of :func:`decode_text` for a text service.
TEXT_SERVICE_HINT = "the service's value_type is text: add value_type=byte_array to send bytes"


class Publisher(AbstractContextManager["Publisher"]):
    """The writers of one ``write --json`` or ``replay`` run, each opened on first use.

    ``kwargs`` are the writer parameters of the command line; ``topic`` is
    ``--topic``. A service that encrypts needs its key for value entries
    only: wire entries are sent as they are.
    """

    def __init__(self, kwargs: dict[str, Any], topic: str | None) -> None:
        from sinetstream import MessageWriter, SinetError

        self._kwargs = kwargs
        self._writers: dict[tuple[str, bool], MessageWriter] = {}
        #: Where every message goes, or None when each entry names its topic.
        self.topic = topic
        #: Why a line without a topic cannot be sent anywhere.
        self._no_topic = "the service names none"
        if topic is None:
            # Built to learn the service's topic, with the parameters that need no key.
            try:
                probe = MessageWriter(**{**kwargs, **WIRE_PARAMS})
            except SinetError as exc:
                # Most backends refuse a writer without a topic: then each line names
                # its own, and a line's writer meets any other problem of the service.
                self._no_topic = f"the service gives none ({exc})"
            else:
                self.topic = probe.topic
                probe.close()
        #: Messages published so far.
        self.sent = 0

    def _writer(self, topic: str, wire: bool) -> MessageWriter:
        from sinetstream import MessageWriter

        writer = self._writers.get((topic, wire))
        if writer is None:
            extra = WIRE_PARAMS if wire else {}
            writer = MessageWriter(**{**writer_params(self._kwargs, topic), **extra})
            writer.open()
            self._writers[(topic, wire)] = writer
        return writer

    @staticmethod
    def _value(entry: Entry, value_type: str) -> str | bytes:
        payload = entry.payload
        if value_type == "text" and isinstance(payload, bytes):
            return decode_text(payload, f"{entry.where}: value_b64", TEXT_SERVICE_HINT)
        if value_type == "byte_array" and isinstance(payload, str):
            return payload.encode("utf-8")
        return payload

    def prepare(self, entry: Entry) -> MessageWriter:
        """The open writer for ``entry``: connects now if it is the first to its topic."""
        topic = self.topic or entry.topic
        if topic is None:
            raise UsageError(
                f"{entry.where}: the line has no topic and {self._no_topic}: give --topic"
            )
        return self._writer(topic, entry.wire)

    def publish(self, entry: Entry) -> None:
        """Publish one entry, to its topic unless the command or the service fixes one."""
        writer = self.prepare(entry)
        writer.publish(entry.payload if entry.wire else self._value(entry, writer.value_type))
        self.sent += 1

    def close(self) -> None:
        """Close every writer (flushing what the backends buffer)."""
        writers = list(self._writers.values())
        self._writers.clear()
        for writer in writers:
            writer.close()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
