"""The Promise returned by ``AsyncMessageWriter.publish``.

It is a ``promise.Promise`` (``then``, ``catch``, ``get``, ``is_fulfilled``, ...)
as in SINETStream 1.10, safe to settle from a backend's network thread while
the user chains on it, and awaitable from asyncio code::

    metadata = await writer.publish(b"data")

Backends create theirs with :class:`sinetstream.spi.PublishPromise` (this
class): the core then returns it as it is, with no chaining per message. A
backend whose client completes its own futures can also defer the success path
with :meth:`SinetPromise.resolve_when_observed`: a message nobody waits on
then costs no settling at all.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

from promise import Promise
from promise.promise import STATE_FULFILLED, STATE_PENDING, STATE_REJECTED

from ._failures import as_sinet_error
from .error import SinetError

__all__ = ["SinetPromise", "rejected_promise", "settle_from"]

# The promise library keeps one global, unsynchronised settle queue: every
# mutation of a promise (settling it, chaining on it) holds this lock.
_LOCK = threading.RLock()
# Classes whose instances are not thenable (learnt as values are seen).
_PLAIN_TYPES: set[type] = set()
_new_object = object.__new__


def _settle(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class SinetPromise(Promise[Any]):
    """A thread-safe, awaitable ``promise.Promise``.

    Settle it with ``do_resolve(value)`` / ``do_reject(error)`` from any thread.
    """

    _failure_hook: Callable[[SinetError], None] | None = None
    # Set by resolve_when_observed(): called once, by the first observer.
    _attach: Callable[[], object] | None = None

    @classmethod
    def fulfilled(cls, value: Any) -> SinetPromise:
        """A promise fulfilled with ``value`` (the library's ``Promise.fulfilled``).

        For a backend that has its receipt at once. A thenable ``value`` is
        followed, as ``do_resolve`` does; a plain one, once its class is known
        not to be thenable, is set directly: no lock, no duck-typing.
        """
        if value.__class__ not in _PLAIN_TYPES:
            promise = cls()
            promise.do_resolve(value)  # learns whether the class is thenable
            return promise
        promise = _new_object(cls)
        promise._state = STATE_FULFILLED
        promise._rejection_handler0 = value
        return promise

    def resolve_when_observed(self, attach: Callable[[], object]) -> None:
        """Defer the success path until somebody looks at this promise.

        ``attach()`` is called once, the first time the promise is observed
        (``then``, ``catch``, ``get``, ``await``, ``is_pending``, ``value``,
        ...), and must arrange for :meth:`do_resolve` to be called, at once if
        the result is already in. Report failures eagerly with
        :meth:`do_reject`, so that the writer's error metrics and ``on_failure``
        see them even when nobody waits::

            promise = PublishPromise()
            future.add_errback(reject, promise)
            promise.resolve_when_observed(partial(future.add_callback, promise.do_resolve))
        """
        if self._state == STATE_PENDING:  # else settled already: nothing to defer
            self._attach = attach

    def _observe(self) -> None:
        attach = self._attach
        if attach is not None:
            self._attach = None
            attach()

    def _target(self) -> Promise[Any]:
        # Every observer of a promise.Promise (then, get, is_pending, value, ...)
        # asks for its target first: the place to run a deferred attach.
        if self._attach is not None:
            self._observe()
        return super()._target()

    def __repr__(self) -> str:
        self._observe()
        return super().__repr__()

    def _then(
        self,
        did_fulfill: Callable[[Any], Any] | None = None,
        did_reject: Callable[[Exception], Any] | None = None,
    ) -> Promise[Any]:
        with _LOCK:
            return super()._then(did_fulfill, did_reject)

    # A promise settles once: later resolves and rejects are ignored (the
    # promise library would let a rejected promise become fulfilled).
    def _resolve_callback(self, value: Any) -> None:
        with _LOCK:
            if self._state != STATE_PENDING or self._is_following:
                return
            # Receipts (RecordMetadata, MQTTMessageInfo, ...) are plain values: skip
            # the library's duck-typing, the costliest step of every publish.
            kind = value.__class__
            if kind in _PLAIN_TYPES:
                self._fulfill(value)
                return
            if not self.is_thenable(value):
                _PLAIN_TYPES.add(kind)
            super()._resolve_callback(value)

    def _reject_callback(
        self,
        reason: Exception,
        synchronous: bool = False,
        traceback: TracebackType | None = None,
    ) -> None:
        with _LOCK:
            if self._state == STATE_PENDING and not self._is_following:
                super()._reject_callback(reason, synchronous, traceback)

    do_resolve = _resolve_callback
    fulfill = _resolve_callback
    do_reject = _reject_callback

    def _reject(self, reason: Exception, traceback: TracebackType | None = None) -> None:
        hook = self._failure_hook
        if hook is not None:
            self._failure_hook = None
            reason = as_sinet_error(reason, "publish failed")
            hook(reason)
        super()._reject(reason, traceback)

    def get(self, timeout: float | None = None) -> Any:
        """The value once settled (waiting up to ``timeout`` s); raises the rejection."""
        if self._attach is not None:
            self._observe()
        if self._state == STATE_FULFILLED and not self._is_following:
            # The common case of a receipt collected after the fact.
            return self._rejection_handler0
        return super().get(timeout)

    def _settled(self) -> bool:
        # A call, not the property inline: _wait checks twice (before and under
        # the lock) and a type checker would narrow the second check away.
        return not self.is_pending

    def _wait(self, timeout: float | None = None) -> None:
        # The library's wait drains the global queue without the lock: wait on an
        # Event instead, blocking outside the lock so the settling thread can run.
        if self._settled():
            return
        done = threading.Event()
        with _LOCK:
            if self._settled():
                return
            super()._then(lambda _v: done.set(), lambda _e: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"promise not settled within {timeout} s")

    def on_failure(self, hook: Callable[[SinetError], None]) -> None:
        """Call ``hook(error)`` once if this promise rejects (now or later)."""
        # Set without the lock (the per-message path; the settling thread holds the
        # lock often). _reject runs under the lock and takes the hook if it sees it;
        # a rejection that came first is caught by the state check below.
        if self._state == STATE_FULFILLED:
            return  # settled for good: it never rejects
        self._failure_hook = hook
        if self._state == STATE_REJECTED:
            with _LOCK:
                if self._failure_hook is hook:
                    self._failure_hook = None
                    hook(as_sinet_error(self.reason, "publish failed"))

    def __await__(self) -> Generator[Any, None, Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def fulfilled(value: Any) -> None:
            loop.call_soon_threadsafe(_settle, fut, value, None)

        def rejected(error: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, fut, None, error)

        self._then(fulfilled, rejected)
        return fut.__await__()


def settle_from(source: Any, on_error: Callable[[SinetError], None]) -> SinetPromise:
    """The promise for a backend's publish result, reporting failures to ``on_error``.

    A :class:`SinetPromise` is returned as it is; another Promise, a Future or
    a plain value is followed by a new one. Rejections become
    :class:`SinetError` (the original as ``__cause__``).
    """
    if isinstance(source, SinetPromise):
        if source._state != STATE_FULFILLED:  # else it never rejects: nothing to report
            source.on_failure(on_error)
        return source
    result = SinetPromise()
    result.on_failure(on_error)
    if isinstance(source, Promise):
        with _LOCK:
            source._then(result.do_resolve, result.do_reject)
    elif callable(getattr(source, "add_done_callback", None)):

        def done(fut: Any) -> None:
            try:
                value = fut.result()
            except Exception as exc:  # includes CancelledError
                result.do_reject(exc)
            else:
                result.do_resolve(value)

        source.add_done_callback(done)
    elif callable(getattr(source, "then", None)):
        source.then(result.do_resolve, result.do_reject)
    else:
        result.do_resolve(source)
    return result


def rejected_promise(error: SinetError) -> SinetPromise:
    """A :class:`SinetPromise` already rejected with ``error``."""
    result = SinetPromise()
    result.do_reject(error)
    return result
