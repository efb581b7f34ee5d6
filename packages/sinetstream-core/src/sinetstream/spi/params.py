"""Parameter validation for plugins: typed checks with one shape of error message.

A plugin checks every parameter it reads when it is constructed, so that a
mistake surfaces at ``MessageReader(...)`` / ``MessageWriter(...)`` with a
message that names the service, the key and the values that would be valid::

    from sinetstream.spi.params import Params

    class MyReader(PluginMessageReader):
        def __init__(self, confver, params):
            p = Params.messaging(confver, params, "mybroker")
            self._batch = p.get_int("batch", 100, minimum=1)
            self._timeout = p.get_number("timeout", 10.0, positive=True, unit="seconds")
            self._mode = p.get_choice("mode", "fast", ("fast", "safe"))

A bad value raises :class:`~sinetstream.error.InvalidArgumentError`::

    mybroker service 'sensors': type_spec.batch: must be an integer >= 1, got 0
    mybroker service 'sensors': type_spec.mode: 'slow' is not one of fast, safe

Every message reads ``<where><key>: <what is valid>``; ``where`` names the
service (``""`` where none is known, as for nested settings checked on their
own). The ``check_*`` functions check one value; :class:`Params` reads the
values out of a mapping of parameters and fills ``where`` and the key path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sinetstream.error import InvalidArgumentError
from sinetstream.spi import ConfigVersion, messaging_params

__all__ = [
    "CONSISTENCY_NAMES",
    "Params",
    "check_bool",
    "check_bytes",
    "check_choice",
    "check_consistency",
    "check_int",
    "check_number",
    "check_str",
    "check_str_list",
    "check_text",
    "service_where",
]

_D = TypeVar("_D")

#: The consistency levels by name, in the order of their numbers 1, 2, 3.
CONSISTENCY_NAMES = ("AT_MOST_ONCE", "AT_LEAST_ONCE", "EXACTLY_ONCE")

_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


def service_where(params: Mapping[str, Any], backend: str) -> str:
    """The prefix naming a service in messages: ``"mqtt service 'x': "`` or ``"mqtt: "``.

    ``params`` are the parameters handed to the plugin; the core puts the
    service's name under ``"service"`` when it came from a config file.
    """
    name = params.get("service")
    return f"{backend} service {name!r}: " if name else f"{backend}: "


def _invalid(where: str, key: str, expected: str, value: Any) -> InvalidArgumentError:
    return InvalidArgumentError(f"{where}{key}: must be {expected}, got {value!r}")


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def check_bool(key: str, value: Any, *, where: str = "") -> bool:
    """``value`` as a bool: ``True``/``False``, or ``true/false/yes/no/on/off`` in any case.

    An integer is not a bool here: ``retain: 1`` is an error, not ``True``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise _invalid(where, key, "true or false", value)


def check_int(
    key: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    where: str = "",
) -> int:
    """``value`` as an int within ``minimum..maximum`` (each bound optional, inclusive).

    ``True`` and ``False`` are rejected, and so are floats (``1.0``) and strings.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise _invalid(where, key, f"an integer{_range(minimum, maximum)}", value)
    return value


def check_number(
    key: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    allow_inf: bool = False,
    unit: str = "",
    where: str = "",
) -> float:
    """``value`` (an int or a float, not a bool) as a float within the given bounds.

    ``positive`` excludes zero and below; ``minimum``/``maximum`` are inclusive.
    Infinity passes only with ``allow_inf`` (and the bounds); NaN never does.
    ``unit`` (``"seconds"``) only words the message.
    """
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if (
        number is None
        or math.isnan(number)
        or (positive and number <= 0)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
        or (math.isinf(number) and not allow_inf)
    ):
        kind = "positive number" if positive else "number"
        if not allow_inf and number is not None and math.isinf(number):
            kind = "finite " + kind
        expected = f"a {kind}{' of ' + unit if unit else ''}{_range(minimum, maximum)}"
        raise _invalid(where, key, expected + (" (or inf)" if allow_inf else ""), value)
    return float(number)


def check_choice(
    key: str,
    value: Any,
    allowed: Sequence[str],
    *,
    ignore_case: bool = False,
    where: str = "",
) -> str:
    """``value`` if it is one of ``allowed``; with ``ignore_case``, the allowed spelling."""
    if isinstance(value, str):
        if ignore_case:
            for name in allowed:
                if value.upper() == name.upper():
                    return name
        elif value in allowed:
            return value
    raise InvalidArgumentError(f"{where}{key}: {value!r} is not one of {', '.join(allowed)}")


def check_consistency(key: str, value: Any, *, where: str = "") -> str:
    """A consistency level as its name, from a ``Consistency`` member, its name or 1..3.

    The core hands a plugin a ``Consistency`` member; the names and numbers are
    accepted for plugins driven directly through the SPI.
    """
    name = getattr(value, "name", value)
    if isinstance(name, str) and name in CONSISTENCY_NAMES:
        return name
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 3:
        return CONSISTENCY_NAMES[value - 1]
    raise InvalidArgumentError(
        f"{where}{key}: {value!r} is not one of {', '.join(CONSISTENCY_NAMES)}"
    )


def check_str(key: str, value: Any, *, allow_empty: bool = True, where: str = "") -> str:
    """``value`` if it is a str (a non-empty one unless ``allow_empty``)."""
    if not isinstance(value, str) or (not value and not allow_empty):
        raise _invalid(where, key, "a string" if allow_empty else "a non-empty string", value)
    return value


def check_text(key: str, value: Any, *, where: str = "") -> str:
    """``value`` as a str: a str, or bytes holding UTF-8 (decrypted secrets arrive as bytes).

    The message of a failure never shows the value: it may be a secret.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentError(f"{where}{key}: must be valid UTF-8") from None
    raise InvalidArgumentError(
        f"{where}{key}: must be a string or UTF-8 bytes, got {type(value).__name__}"
    )


def check_bytes(key: str, value: Any, *, where: str = "") -> bytes:
    """``value`` as bytes: bytes or bytearray as they are, a str encoded as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise InvalidArgumentError(
        f"{where}{key}: must be bytes or a string, got {type(value).__name__}"
    )


def check_str_list(key: str, value: Any, *, where: str = "") -> list[str]:
    """``value`` as a non-empty list of non-empty strings; one string is a list of one."""
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, (list, tuple))
        or not items
        or not all(isinstance(item, str) and item for item in items)
    ):
        raise _invalid(where, key, "a non-empty string or a non-empty list of them", value)
    return list(items)


class Params:
    """Typed getters over one mapping of parameters, naming the service in errors.

    ``where`` prefixes every message (see :func:`service_where`); ``prefix`` is
    put before each key in messages, ``"type_spec."`` for a version 3 config.

    Each getter returns ``default`` (unchecked) when the key is absent, and also
    when the key holds ``None`` and ``default`` is ``None``: a key that is
    optional may be set to null. Otherwise the value is checked as by the
    ``check_*`` function of the same name.
    """

    __slots__ = ("prefix", "values", "where")

    def __init__(self, values: Mapping[str, Any], *, where: str = "", prefix: str = "") -> None:
        self.values = values
        self.where = where
        self.prefix = prefix

    @classmethod
    def messaging(cls, confver: ConfigVersion, params: Mapping[str, Any], backend: str) -> Params:
        """The messaging-system parameters of a service (see :func:`messaging_params`)."""
        return cls(
            messaging_params(confver, params),
            where=service_where(params, backend),
            prefix="type_spec." if confver.type_spec() else "",
        )

    def key(self, name: str) -> str:
        """``name`` as messages spell it (with the ``type_spec.`` prefix if any)."""
        return self.prefix + name

    def _given(self, name: str, default: object) -> bool:
        """Whether the value at ``name`` is to be checked rather than ``default`` returned."""
        return name in self.values and (self.values[name] is not None or default is not None)

    def get_bool(self, name: str, default: _D) -> bool | _D:
        """The bool at ``name`` (see :func:`check_bool`)."""
        if not self._given(name, default):
            return default
        return check_bool(self.key(name), self.values[name], where=self.where)

    def get_int(
        self, name: str, default: _D, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | _D:
        """The int at ``name`` (see :func:`check_int`)."""
        if not self._given(name, default):
            return default
        return check_int(
            self.key(name), self.values[name], minimum=minimum, maximum=maximum, where=self.where
        )

    def get_number(
        self,
        name: str,
        default: _D,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
        allow_inf: bool = False,
        unit: str = "",
    ) -> float | _D:
        """The number at ``name``, as a float (see :func:`check_number`)."""
        if not self._given(name, default):
            return default
        return check_number(
            self.key(name),
            self.values[name],
            minimum=minimum,
            maximum=maximum,
            positive=positive,
            allow_inf=allow_inf,
            unit=unit,
            where=self.where,
        )

    def get_choice(
        self, name: str, default: _D, allowed: Sequence[str], *, ignore_case: bool = False
    ) -> str | _D:
        """The string at ``name``, one of ``allowed`` (see :func:`check_choice`)."""
        if not self._given(name, default):
            return default
        return check_choice(
            self.key(name), self.values[name], allowed, ignore_case=ignore_case, where=self.where
        )

    def get_str(self, name: str, default: _D, *, allow_empty: bool = True) -> str | _D:
        """The string at ``name`` (see :func:`check_str`)."""
        if not self._given(name, default):
            return default
        return check_str(
            self.key(name), self.values[name], allow_empty=allow_empty, where=self.where
        )

    def get_text(self, name: str, default: _D) -> str | _D:
        """The string or UTF-8 bytes at ``name``, as a string (see :func:`check_text`)."""
        if not self._given(name, default):
            return default
        return check_text(self.key(name), self.values[name], where=self.where)

    def get_bytes(self, name: str, default: _D) -> bytes | _D:
        """The bytes or string at ``name``, as bytes (see :func:`check_bytes`)."""
        if not self._given(name, default):
            return default
        return check_bytes(self.key(name), self.values[name], where=self.where)

    def get_str_list(self, name: str, default: _D) -> list[str] | _D:
        """The string or list of strings at ``name``, as a list (see :func:`check_str_list`)."""
        if not self._given(name, default):
            return default
        return check_str_list(self.key(name), self.values[name], where=self.where)
