"""A thread-safe ``promise.Promise`` for results settled on kafka-python's sender thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from promise import Promise

__all__ = ["KafkaPromise"]

# The promise library keeps one global, unsynchronised settle queue: every
# mutation of a promise (settling it, chaining on it) must hold this lock.
_LOCK = threading.RLock()


class KafkaPromise(Promise[Any]):
    """A Promise that may be settled from another thread than the one chaining on it."""

    def _then(
        self,
        did_fulfill: Callable[[Any], Any] | None = None,
        did_reject: Callable[[Exception], Any] | None = None,
    ) -> Promise[Any]:
        with _LOCK:
            return super()._then(did_fulfill, did_reject)

    def _resolve_callback(self, value: Any) -> None:
        with _LOCK:
            super()._resolve_callback(value)

    def _reject_callback(
        self,
        reason: Exception,
        synchronous: bool = False,
        traceback: TracebackType | None = None,
    ) -> None:
        with _LOCK:
            super()._reject_callback(reason, synchronous, traceback)

    do_resolve = _resolve_callback
    fulfill = _resolve_callback
    do_reject = _reject_callback

    def _wait(self, timeout: float | None = None) -> None:
        # The library's wait drains the global queue without a lock; wait on an
        # Event instead, and block outside the lock so the sender can settle us.
        done = threading.Event()
        with _LOCK:
            if not self.is_pending:
                return
            super()._then(lambda _v: done.set(), lambda _e: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"promise not settled within {timeout} s")
