"""A plugin's failure reaches the user the same way on every path.

``open``, sync publish, async publish (at once and on delivery) and sync read:
a :class:`SinetError` the plugin raises is counted and passed on as it is;
any other exception is counted and wrapped, the original as ``__cause__``.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sinetstream import (
    AsyncMessageWriter,
    AuthorizationError,
    MessageReader,
    MessageWriter,
    SinetError,
)
from sinetstream import ConnectionError as SinetConnectionError

#: What the plugin raises; set by each test.
RAISE: dict[str, BaseException] = {}


def _raise(step: str) -> None:
    error = RAISE.get(step)
    if error is not None:
        raise error


class FailingPlugin:
    """A writer and reader that raise ``RAISE[step]`` at ``open``, ``publish``, ``iter``."""

    def __init__(self, params: Any) -> None:
        pass

    def open(self) -> None:
        _raise("open")

    def close(self) -> None:
        pass

    def publish(self, message: bytes) -> Any:
        _raise("publish")
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        error = RAISE.get("delivery")
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
        return future

    def __iter__(self) -> Iterator[tuple[bytes, str, None]]:
        _raise("iter")
        return self._messages()

    def _messages(self) -> Iterator[tuple[bytes, str, None]]:
        _raise("next")
        yield b"", "t", None


@pytest.fixture
def failing() -> Iterator[str]:
    name = f"failing-{uuid.uuid4().hex[:8]}"
    for api in (MessageWriter, AsyncMessageWriter, MessageReader):
        api.registry.register(name, FailingPlugin)
    RAISE.clear()
    yield name
    RAISE.clear()
    for api in (MessageWriter, AsyncMessageWriter, MessageReader):
        api.registry.unregister(name)


def _open(failing: str) -> Any:
    return MessageWriter(no_config=True, type=failing, topic="t").open()


def _sync_publish(failing: str) -> Any:
    with MessageWriter(no_config=True, type=failing, topic="t") as writer:
        try:
            writer.publish(b"x")
        finally:
            _check_counted(writer)


def _async_publish(failing: str) -> Any:
    with AsyncMessageWriter(no_config=True, type=failing, topic="t") as writer:
        try:
            writer.publish(b"x").get(5)
        finally:
            _check_counted(writer)


def _read(failing: str) -> Any:
    with MessageReader(no_config=True, type=failing, topics="t") as reader:
        try:
            next(iter(reader))
        finally:
            _check_counted(reader)


def _check_counted(io: Any) -> None:
    assert io.metrics.error_count_total == 1


# (step the plugin fails at, what the user does, the class and message of a wrapped error)
PATHS: list[tuple[str, Callable[[str], Any], type[SinetError], str]] = [
    ("open", _open, SinetConnectionError, "cannot open the {} backend"),
    ("publish", _sync_publish, SinetError, "publish failed"),
    ("publish", _async_publish, SinetError, "publish failed"),
    ("delivery", _async_publish, SinetError, "publish failed"),
    ("iter", _read, SinetError, "receiving failed"),
    ("next", _read, SinetError, "receiving failed"),
]
IDS = ["open", "sync-publish", "async-publish", "async-delivery", "sync-iter", "sync-next"]


# What the plugin raises. A plain RuntimeError is wrapped like any other exception
# (the sync reader passed it on unwrapped, as it was, while the writers wrapped it).
RAISED = [OSError("disk on fire"), RuntimeError("odd"), AuthorizationError("topic t denied")]


@pytest.mark.parametrize("original", RAISED, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_a_failure_is_counted_and_reaches_the_user_as_a_sinet_error(
    failing: str, path: tuple[str, Callable[[str], Any], type[SinetError], str], original: Exception
) -> None:
    """A SinetError as it is; any other exception wrapped, the original as its cause."""
    step, action, kind, what = path
    RAISE[step] = original
    with pytest.raises(SinetError) as caught:
        action(failing)
    if isinstance(original, SinetError):
        assert caught.value is original
        return
    assert type(caught.value) is kind
    name = type(original).__name__
    assert str(caught.value) == f"{what.format(failing)}: {name}: {original}"
    assert caught.value.__cause__ is original
