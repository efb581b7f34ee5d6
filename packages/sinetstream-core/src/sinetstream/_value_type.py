"""Value types: how a user object becomes the message payload bytes and back.

Built in: ``byte_array`` (bytes pass through) and ``text`` (UTF-8). Any other
name is looked up in the ``sinetstream.value_type`` entry-point group; the
plugin class is instantiated with the ``args`` of the ``value_type`` parameter
as keyword arguments (SINETStream 1.10).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._registry import registry
from .error import InvalidArgumentError, SinetError

__all__ = ["BYTE_ARRAY", "TEXT", "ValueType", "resolve_value_type"]

#: Name of the value type that passes bytes through unchanged.
BYTE_ARRAY = "byte_array"
#: Name of the value type for ``str`` values, sent as UTF-8.
TEXT = "text"

Serializer = Callable[[Any], bytes]
Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True)
class ValueType:
    """A resolved value type: its name and its (de)serializer, ``None`` meaning identity."""

    name: str
    serializer: Serializer | None
    deserializer: Deserializer | None


def _name_and_args(value_type: Any) -> tuple[str, Mapping[str, Any]]:
    if value_type is None:
        return BYTE_ARRAY, {}
    if isinstance(value_type, str):
        return value_type, {}
    if isinstance(value_type, Mapping):
        name = value_type.get("name")
        args = value_type.get("args")
    elif hasattr(value_type, "name"):
        name = value_type.name
        args = getattr(value_type, "args", None)
    else:
        raise InvalidArgumentError(
            f"value_type: expected a name, a mapping {{name, args}} or an object with .name, "
            f"got {type(value_type).__name__}"
        )
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"value_type.name: must be a non-empty string, got {name!r}")
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise InvalidArgumentError(
            f"value_type.args: must be a mapping of keyword arguments, got {type(args).__name__}"
        )
    return name, args


def resolve_value_type(value_type: Any) -> ValueType:
    """Resolve the ``value_type`` parameter (name, ``{name, args}`` or object).

    Raises :class:`InvalidArgumentError` for an unknown name or a plugin that
    rejects its ``args``.
    """
    name, args = _name_and_args(value_type)
    if name == BYTE_ARRAY:
        return ValueType(BYTE_ARRAY, None, None)
    if name == TEXT:
        # The C methods themselves (UTF-8, strict): no Python frame per message.
        return ValueType(TEXT, str.encode, bytes.decode)
    cls = registry("value_type").get(name, unknown=InvalidArgumentError)
    try:
        plugin = cls(**args)
        serializer = plugin.serializer
        deserializer = plugin.deserializer
    except SinetError:
        raise
    except Exception as exc:
        raise InvalidArgumentError(
            f"value_type {name!r}: plugin {cls.__module__}.{cls.__qualname__} rejected "
            f"args {sorted(args)}: {exc}"
        ) from exc
    for what, fn in (("serializer", serializer), ("deserializer", deserializer)):
        if fn is not None and not callable(fn):
            raise InvalidArgumentError(
                f"value_type {name!r}: plugin {what} is {type(fn).__name__}, not a callable"
            )
    return ValueType(name, serializer, deserializer)
