"""The JSON-lines format of ``read --json``, ``write --json``, ``record`` and ``replay``.

One JSON object per message (see docs/cli.md for the schema)::

    {"topic": "demo/temp", "timestamp": "2026-12-06T20:55:37.123456Z",
     "timestamp_us": 1796590537123456, "received_us": 1796590537125012,
     "value": "21.5", "qos": 0, "retain": false}

The payload is one of ``value`` (text; any other JSON value is published as
its JSON text), ``value_b64`` (bytes, base64) or ``wire_b64`` (the whole
SINETStream message as it travelled, still encrypted, which a writer forwards
unchanged). A recording starts with one header object, recognised by its
``sinetstream_recording`` key. Pure functions: no I/O but the line reader.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import string
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .status import UsageError, note

#: The key that marks the header line of a recording, and its format version.
RECORDING_KEY = "sinetstream_recording"
RECORDING_VERSION = 1

#: Fields of the backend's own message object copied into a line when present:
#: Kafka ``ConsumerRecord`` (key, partition, offset, headers), paho ``MQTTMessage``
#: (qos, retain), the queue's ``Record`` (offset).
_INT_FIELDS = ("partition", "offset", "qos")
_PAYLOAD_FIELDS = ("value", "value_b64", "wire_b64")

#: Every field a message line may have: the names ``read --format`` accepts.
LINE_FIELDS = (
    "topic",
    "timestamp",
    "timestamp_us",
    "received_us",
    *_PAYLOAD_FIELDS,
    "key",
    "key_b64",
    "partition",
    "offset",
    "headers",
    "qos",
    "retain",
)

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def rfc3339(timestamp_us: int) -> str:
    """``2026-12-06T20:55:37.123456Z`` for microseconds since the epoch (exact, UTC)."""
    when = _EPOCH + datetime.timedelta(microseconds=timestamp_us)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def dumps(obj: dict[str, Any]) -> str:
    """One line of JSON (UTF-8 text kept as is), with its newline."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _text_or_b64(name: str, data: bytes | str) -> dict[str, str]:
    """``{name: text}`` when ``data`` is UTF-8 text, else ``{name_b64: base64}``."""
    if isinstance(data, str):
        return {name: data}
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": b64(data)}


def b64(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def backend_fields(raw: Any) -> dict[str, Any]:
    """What the backend's message object tells beyond the value (duck-typed, never imported)."""
    fields: dict[str, Any] = {}
    key = getattr(raw, "key", None)
    if isinstance(key, (bytes, str)):
        fields.update(_text_or_b64("key", key))
    for name in _INT_FIELDS:
        value = getattr(raw, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            fields[name] = value
    headers = getattr(raw, "headers", None)
    if isinstance(headers, (list, tuple)) and headers:
        fields["headers"] = [
            {"key": str(name), **_text_or_b64("value", value or b"")} for name, value in headers
        ]
    retain = getattr(raw, "retain", None)
    if isinstance(retain, bool):
        fields["retain"] = retain
    return fields


def message_line(message: Any, received_us: int, *, wire: bool = False) -> dict[str, Any]:
    """The JSON object of a received :class:`~sinetstream.Message`.

    With ``wire`` the value is the undecoded SINETStream message (``wire_b64``),
    whose timestamp is sealed inside it: the line has none.
    """
    line: dict[str, Any] = {"topic": message.topic}
    stamp = message.timestamp_us
    if stamp and not wire:
        line["timestamp"] = rfc3339(stamp)
        line["timestamp_us"] = stamp
    line["received_us"] = received_us
    value = message.value
    if wire:
        line["wire_b64"] = b64(bytes(value))
    elif isinstance(value, str):
        line["value"] = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        line["value_b64"] = b64(bytes(value))
    else:
        raise UsageError(
            f"JSON output needs text or bytes values, and this service's value type gives "
            f"{type(value).__name__} objects: add value_type=byte_array to get the payload bytes"
        )
    line.update(backend_fields(message.raw))
    return line


# --- --format TEMPLATE ------------------------------------------------------------------------


def check_template(template: str) -> None:
    """Refuse a ``--format`` template naming a field no message line has."""
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    except ValueError as exc:
        raise UsageError(f"--format {template!r}: {exc}") from None
    unknown = sorted(n for n in names if n.split(".")[0].split("[")[0] not in LINE_FIELDS)
    if unknown:
        raise UsageError(
            f"--format: unknown field(s) {', '.join(unknown)}; fields: {', '.join(LINE_FIELDS)}"
        )


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""  # a field this backend does not give


def format_line(template: str, line: dict[str, Any]) -> str:
    """``template`` filled from a message line; ``{value}`` is text even for bytes values."""
    fields = _Fields(line)
    if "value" not in line:
        payload = line.get("value_b64") or line.get("wire_b64") or ""
        fields["value"] = base64.b64decode(payload).decode("utf-8", errors="replace")
    return template.format_map(fields)


# --- reading lines back -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One message line read back: where it goes, what it carries, when it was sent."""

    #: ``file:line`` for error messages.
    where: str
    topic: str | None
    payload: str | bytes
    #: True when ``payload`` is a whole SINETStream message to forward unchanged.
    wire: bool
    timestamp_us: int
    received_us: int


def _int_field(obj: dict[str, Any], name: str, where: str) -> int:
    value = obj.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where}: {name} must be an integer, got {value!r}")
    return value


def parse_entry(obj: Any, where: str) -> Entry:
    """The :class:`Entry` of one decoded JSON message line."""
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    present = [name for name in _PAYLOAD_FIELDS if name in obj]
    if len(present) != 1:
        raise UsageError(
            f"{where}: a message line has exactly one of {', '.join(_PAYLOAD_FIELDS)}"
            + (f", this one has {', '.join(present)}" if present else "")
        )
    name = present[0]
    value = obj[name]
    payload: str | bytes
    if name == "value":
        payload = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    else:
        if not isinstance(value, str):
            raise UsageError(f"{where}: {name} must be a base64 string")
        try:
            payload = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise UsageError(f"{where}: {name} is not valid base64: {exc}") from None
    topic = obj.get("topic")
    if topic is not None and (not isinstance(topic, str) or not topic):
        raise UsageError(f"{where}: topic must be a non-empty string, got {topic!r}")
    return Entry(
        where,
        topic,
        payload,
        name == "wire_b64",
        _int_field(obj, "timestamp_us", where),
        _int_field(obj, "received_us", where),
    )


def read_entries(lines: Iterable[bytes], source: str) -> Iterator[Entry]:
    """The message lines of ``lines`` (a binary file or stdin), skipping blank and header lines.

    A last line without its newline that is not valid JSON is what a killed
    recorder leaves behind: it is reported and ignored. Any other bad line is
    a :class:`UsageError` naming ``source`` and the line number.
    """
    for number, data in enumerate(lines, 1):
        if not data.strip():
            continue
        where = f"{source}:{number}"
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if not data.endswith(b"\n"):
                note(f"{where}: ignored an incomplete last line (the recorder was stopped)")
                return
            raise UsageError(f"{where}: not a UTF-8 JSON line: {exc}") from None
        if isinstance(obj, dict) and RECORDING_KEY in obj:
            continue
        yield parse_entry(obj, where)
