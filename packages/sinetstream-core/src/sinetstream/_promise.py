"""The Promise returned by ``AsyncMessageWriter.publish``.

It is a ``promise.Promise`` (``then``, ``catch``, ``get``, ``is_fulfilled``, ...)
as in SINETStream 1.10, and can also be awaited from asyncio code::

    metadata = await writer.publish(b"data")
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

from promise import Promise

from .error import SinetError

__all__ = ["SinetPromise", "settle_from"]


def _settle(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class SinetPromise(Promise[Any]):
    """A ``promise.Promise`` that asyncio code can ``await``.

    Awaiting works from any event loop, whichever thread settles the promise.
    """

    def __await__(self) -> Generator[Any, None, Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def fulfilled(value: Any) -> None:
            loop.call_soon_threadsafe(_settle, fut, value, None)

        def rejected(error: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, fut, None, error)

        self._then(fulfilled, rejected)
        return fut.__await__()


def _as_sinet_error(error: BaseException) -> SinetError:
    if isinstance(error, SinetError):
        return error
    wrapped = SinetError(f"publish failed: {type(error).__name__}: {error}")
    wrapped.__cause__ = error
    return wrapped


def settle_from(source: Any, on_error: Callable[[SinetError], None]) -> SinetPromise:
    """A :class:`SinetPromise` that follows a backend's Promise, Future or plain value.

    A rejection is turned into a :class:`SinetError` (the original as its
    ``__cause__``) and reported to ``on_error`` before the promise rejects.
    """
    result = SinetPromise()

    def fulfilled(value: Any) -> None:
        result.do_resolve(value)

    def rejected(error: BaseException) -> None:
        err = _as_sinet_error(error)
        on_error(err)
        result.do_reject(err)

    if isinstance(source, Promise):
        source._then(fulfilled, rejected)
    elif callable(getattr(source, "add_done_callback", None)):

        def done(fut: Any) -> None:
            error = fut.exception()
            if error is not None:
                rejected(error)
            else:
                fulfilled(fut.result())

        source.add_done_callback(done)
    elif callable(getattr(source, "then", None)):
        source.then(fulfilled, rejected)
    else:
        result.do_resolve(source)
    return result


def rejected_promise(error: SinetError) -> SinetPromise:
    """A :class:`SinetPromise` already rejected with ``error``."""
    result = SinetPromise()
    result.do_reject(error)
    return result
