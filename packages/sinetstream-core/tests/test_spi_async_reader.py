"""``spi.AsyncReaderBase``: the callbacks of an async reader plugin, held and guarded once."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sinetstream.spi import AsyncReaderBase, PluginAsyncMessageReader


class Reader(AsyncReaderBase):
    def __init__(self) -> None:
        self.changes = 0

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _on_message_changed(self) -> None:
        self.changes += 1


def test_is_an_async_reader_plugin() -> None:
    assert issubclass(AsyncReaderBase, PluginAsyncMessageReader)
    assert Reader().on_message is None
    assert Reader().on_failure is None


def test_deliver_without_on_message_says_so() -> None:
    assert Reader().deliver(b"x", "t", None) is False


def test_deliver_calls_on_message_and_tells_the_hook() -> None:
    reader = Reader()
    got: list[tuple[bytes, str | None, Any]] = []
    reader.on_message = lambda value, topic, raw: got.append((value, topic, raw))
    assert reader.changes == 1
    assert reader.deliver(b"x", "t", 7) is True
    assert got == [(b"x", "t", 7)]


def test_an_on_message_error_goes_to_on_failure() -> None:
    reader = Reader()
    failures: list[BaseException] = []

    def broken(value: bytes, topic: str | None, raw: Any) -> None:
        raise ValueError("bug")

    reader.on_message = broken
    reader.on_failure = lambda exc, tb: failures.append(exc)
    assert reader.deliver(b"x", "t", None) is True
    assert [type(e) for e in failures] == [ValueError]
    assert failures[0].__traceback__ is not None
    assert reader.callback_errors == 1


def test_fail_without_on_failure_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        Reader().fail(RuntimeError("lost"))
    assert "lost (set on_failure to handle it)" in caplog.text


def test_a_raising_on_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    reader = Reader()

    def broken(exc: BaseException, tb: object) -> None:
        raise OSError("handler bug")

    reader.on_failure = broken
    with caplog.at_level(logging.ERROR):
        reader.fail(RuntimeError("lost"))
    assert "on_failure raised" in caplog.text
