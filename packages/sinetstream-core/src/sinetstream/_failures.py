"""Error translation in the core: where a foreign exception becomes a :class:`SinetError`.

A backend maps its client's exceptions through its own table
(``sinetstream_kafka._errors.ERRORS``, ``sinetstream_mqtt._errors.CONNECT_ERRORS``);
whatever still reaches the core that is not a :class:`SinetError` (a plugin's
own bug, an exception no table knows) is wrapped by :func:`as_sinet_error`,
the original kept as ``__cause__``. :meth:`MessageIO._failure` counts a
failure and translates it in one call, for ``open`` and the three message
paths (sync publish, async publish, sync read); a Promise whose delivery
fails translates with the same function (its hook counts).

A function, not a context manager: a ``with`` block costs a call of
``__enter__`` and ``__exit__`` per message, a ``try`` costs nothing until it
catches.
"""

from __future__ import annotations

from .error import SinetError

__all__ = ["as_sinet_error"]


def as_sinet_error(
    error: BaseException, what: str, kind: type[SinetError] = SinetError
) -> SinetError:
    """``error`` itself if it is a :class:`SinetError`, else a ``kind`` caused by it.

    The wrapped error says ``"{what}: {type}: {error}"``. Raise the result
    with a plain ``raise``: its ``__cause__`` is set here.
    """
    if isinstance(error, SinetError):
        return error
    wrapped = kind(f"{what}: {type(error).__name__}: {error}")
    wrapped.__cause__ = error
    return wrapped
